//go:build !unix

package manifest

import (
	"errors"
	"os"
)

// Elsewhere (Windows, plan9, wasm) segments are read with ReadAt.
const canMmap = false

func mmapFile(f *os.File, size int64) ([]byte, func() error, error) {
	return nil, nil, errors.ErrUnsupported
}
