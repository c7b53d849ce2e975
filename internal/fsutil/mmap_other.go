//go:build !unix

package fsutil

import (
	"errors"
	"os"
)

// CanMap reports whether Map works on this platform (here it does not:
// callers read with ReadAt).
const CanMap = false

// Map is unsupported here.
func Map(f *os.File, length int64) ([]byte, func() error, error) {
	return nil, nil, errors.ErrUnsupported
}

// UnmapLater runs unmap now (there are no mappings here to drop).
func UnmapLater(unmap func() error) { unmap() }

// WaitUnmaps returns at once: UnmapLater runs nothing in the background here.
func WaitUnmaps() {}

// LocalFS is false here: there are no mappings to leave to the background.
func LocalFS(string) bool { return false }
