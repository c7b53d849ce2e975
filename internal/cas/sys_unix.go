//go:build unix

package cas

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/pcache/pcache/internal/fsutil"
	"golang.org/x/sys/unix"
)

// openNoFollow opens path for reading, failing if it is a symbolic link,
// without blocking on a FIFO planted there (fsutil.OpenNoFollow). The
// caller must still check with Stat that the file is regular.
func openNoFollow(path string) (*os.File, error) {
	return fsutil.OpenNoFollow(path, os.O_RDONLY, 0)
}

// sameFileSystem fails if directories a and b (fa and fb, their Stat) live
// on different devices, where a rename from one to the other fails with
// EXDEV (or, through a union mount, is not atomic).
func sameFileSystem(a, b string, fa, fb fs.FileInfo) error {
	sa, ok1 := fa.Sys().(*syscall.Stat_t)
	sb, ok2 := fb.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return nil
	}
	if sa.Dev != sb.Dev {
		return fmt.Errorf("%s (device %v) and %s (device %v) are on different file systems, so renaming a finished write into place would not be atomic: %w",
			a, sa.Dev, b, sb.Dev, syscall.EXDEV)
	}
	return nil
}

// setMtime sets path's access and modification times to t without following
// a symbolic link.
func setMtime(path string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	err := unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return &os.PathError{Op: "utimensat", Path: path, Err: err}
	}
	return nil
}

// fsSpace returns the bytes available to this user on the file system
// holding dir, and its size.
func fsSpace(dir string) (free, total int64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), true
}
