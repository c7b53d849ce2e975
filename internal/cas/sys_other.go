//go:build !unix

package cas

import (
	"fmt"
	"io/fs"
	"os"
	"time"
)

// openNoFollow opens path for reading, refusing a symbolic link. Without
// O_NOFOLLOW the check is an Lstat before the open; the caller checks with
// Stat afterwards that what was opened is a regular file.
func openNoFollow(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("is a symbolic link")}
	}
	return os.Open(path)
}

// sameFileSystem is not checked on these platforms; a cross-volume rename
// fails there instead of succeeding non-atomically.
func sameFileSystem(a, b string, fa, fb fs.FileInfo) error { return nil }

// setMtime sets path's access and modification times to t.
func setMtime(path string, t time.Time) error { return os.Chtimes(path, t, t) }

// fsSpace is unknown on this platform.
func fsSpace(string) (free, total int64, ok bool) { return 0, 0, false }
