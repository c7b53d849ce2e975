//go:build !unix

package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// NoFollowFlags is empty here: this platform has no O_NOFOLLOW; OpenRegular
// refuses a symbolic link with an Lstat before the open instead.
const NoFollowFlags = 0

// createExcl creates the file at path, which must not exist, for reading
// and writing with mode perm.
func createExcl(path string, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
}

var (
	errIsDir       = errors.New("is a directory")
	errSymlinkHere = errors.New("is a symbolic link")
)

// OpenNoFollow opens path with flag and perm, refusing a symbolic link,
// directory or other non-regular file found by an Lstat before the open.
func OpenNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		return nil, &os.PathError{Op: "open", Path: path, Err: errSymlinkHere}
	case err == nil && fi.IsDir():
		return nil, &os.PathError{Op: "open", Path: path, Err: errIsDir}
	case err == nil && !fi.Mode().IsRegular():
		return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%s: %w", Kind(fi.Mode()), ErrNotRegular)}
	}
	return os.OpenFile(path, flag, perm)
}

func isSymlinkErr(err error) bool { return errors.Is(err, errSymlinkHere) }

func allocated(fs.FileInfo) (int64, bool) { return 0, false }
func links(fs.FileInfo) (uint64, bool)    { return 0, false }
