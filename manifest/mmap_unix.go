//go:build unix

package manifest

import (
	"os"

	"golang.org/x/sys/unix"
)

const canMmap = true

// mmapFile maps size bytes of f read-only. The mapping stays valid after f
// is closed and after the file is unlinked.
func mmapFile(f *os.File, size int64) ([]byte, func() error, error) {
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return unix.Munmap(data) }, nil
}
