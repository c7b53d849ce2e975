package fsutil

import "golang.org/x/sys/unix"

// localMagics are the statfs types of local file systems (linux/magic.h).
var localMagics = map[int64]bool{
	0xEF53:     true, // ext2, ext3, ext4
	0x58465342: true, // xfs
	0x9123683E: true, // btrfs
	0x01021994: true, // tmpfs
	0x2FC12FC1: true, // zfs
	0x794C7630: true, // overlayfs
	0xF2F52010: true, // f2fs
}

// LocalFS reports whether dir is on a file system known to be local (its
// statfs type): only there may a closing Store leave its unmapping to the
// background. On NFS a file unlinked while still mapped becomes a .nfsXXXX
// file until it is unmapped, and a directory removed right after Close
// would not be empty.
func LocalFS(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && localMagics[int64(st.Type)]
}
