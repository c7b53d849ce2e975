package testutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// fsTopDirFlag is FS_TOPDIR_FL (linux/fs.h): the directory is the top of
// a hierarchy, whose subdirectories ext4's Orlov allocator spreads across
// block groups (chattr +T).
const fsTopDirFlag = 0x00020000

// markTopDir sets the top-of-hierarchy flag on dir, where the file system
// has it (ext2/3/4); elsewhere it does nothing.
func markTopDir(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	defer f.Close()
	fd := int(f.Fd())
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		return
	}
	unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|fsTopDirFlag))
}
