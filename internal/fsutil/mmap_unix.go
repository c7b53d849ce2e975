//go:build unix

package fsutil

import (
	"os"
	"sync"

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

// UnmapLater runs unmap (a Map's) in the background, for a Close that
// drops its mappings: unmapping pages a process has touched interrupts
// every CPU its threads ran on to flush their TLBs (a fresh process's Close
// spent 200-250 µs of its 400-550 on it here), which the caller need not
// wait for, and a process that exits drops its mappings at once.
func UnmapLater(unmap func() error) {
	unmaps.Lock()
	unmaps.n++
	unmaps.Unlock()
	go func() {
		unmap()
		unmaps.Lock()
		if unmaps.n--; unmaps.n == 0 {
			unmaps.done.Broadcast()
		}
		unmaps.Unlock()
	}()
}

// unmaps counts the unmaps UnmapLater started that have not run yet.
var unmaps = func() *unmapCount {
	u := &unmapCount{}
	u.done = sync.NewCond(&u.Mutex)
	return u
}()

type unmapCount struct {
	sync.Mutex
	n    int
	done *sync.Cond // broadcast when n drops to 0
}

// WaitUnmaps returns once every unmap UnmapLater started has run (for
// tests that look at the process's mappings).
func WaitUnmaps() {
	unmaps.Lock()
	for unmaps.n > 0 {
		unmaps.done.Wait()
	}
	unmaps.Unlock()
}
