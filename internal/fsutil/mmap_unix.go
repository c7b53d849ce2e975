//go:build unix

package fsutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// CanMap reports whether Map works on this platform.
const CanMap = true

// Map maps length bytes of f read-only (shared, so other processes' writes
// to the file show through). length may exceed the file's size: pages past
// its end cannot be touched (SIGBUS) until the file grows to cover them, so
// callers only read below a size they know the file has, under
// debug.SetPanicOnFault. The mapping stays valid after f is closed and after
// the file is unlinked.
func Map(f *os.File, length int64) ([]byte, func() error, error) {
	data, err := unix.Mmap(int(f.Fd()), 0, int(length), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return unix.Munmap(data) }, nil
}
