//go:build !unix

package layout

import (
	"fmt"
	"io/fs"
	"os"
)

// openNoFollow opens path for reading, refusing a link at its last element
// (checked first: this platform has no O_NOFOLLOW).
func openNoFollow(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: a symbolic link", errPlanted)}
	}
	return os.Open(path)
}
