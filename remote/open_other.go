//go:build !unix

package remote

import (
	"fmt"
	"io/fs"
	"os"
)

// openRegular is open_unix.go's without O_NOFOLLOW: the name is checked
// with Lstat first, and the descriptor with Stat after.
func openRegular(path string, limit int64) (*os.File, fs.FileInfo, error) {
	if fi, err := os.Lstat(path); err != nil {
		return nil, nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file (%v)", path, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > limit {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file of at most %d bytes", path, limit)
	}
	return f, fi, nil
}

var currentUID = os.Getuid

// ownedByMe: files carry no owner uid here; every outbox file is taken as
// this user's.
func ownedByMe(fs.FileInfo) bool { return true }

func fileOwner(fs.FileInfo) int { return -1 }
