// Package lock is every lock pcache takes on a cache directory: flock files
// waited for under a context, the gc turnstile, and per-key locks.
// Lock files are never deleted while they can matter and never copied between machines.
//
// Every wait honours its context: the blocking flock(2) or fcntl(2) runs on
// its own goroutine, and a caller whose context ends returns at once (the
// lock, if it arrives later, is released by that goroutine). No mutex is held
// across a blocking wait. One *os.File (one open file description) backs
// each acquisition, because flock(2) and OFD locks belong to the
// description: two acquisitions in one process exclude each other, and the
// OS releases a dead holder's locks.
package lock

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
)

// FileMode is the mode of every lock file (before the umask): locks are
// opened read-write, by every user who shares a cache.
const FileMode fs.FileMode = 0o666

// dirMode is the mode of lock directories (before the umask).
const dirMode fs.FileMode = 0o777

// Mode says whether a lock is shared or exclusive.
type Mode int

const (
	Shared Mode = iota
	Exclusive
)

// Held is one acquired file lock.
type Held struct{ fl *flock.Flock }

// Release unlocks and closes the lock file. It is safe to call on nil and
// more than once.
func (h *Held) Release() {
	if h != nil && h.fl != nil {
		h.fl.Unlock()
		h.fl = nil
	}
}

func newFlock(path string) (*flock.Flock, error) {
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(FileMode)), nil
}

// Acquire locks the file at path (creating it and its directory if needed),
// waiting until it is free or ctx is done.
func Acquire(ctx context.Context, path string, mode Mode) (*Held, error) {
	fl, err := newFlock(path)
	if err != nil {
		return nil, err
	}
	try, block := fl.TryLock, fl.Lock
	if mode == Shared {
		try, block = fl.TryRLock, fl.RLock
	}
	if ok, err := try(); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	} else if ok {
		return &Held{fl}, nil
	}
	done := make(chan error, 1)
	go func() { done <- block() }()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return &Held{fl}, nil
	case <-ctx.Done():
		go func() {
			if <-done == nil {
				fl.Unlock()
			}
		}()
		return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
	}
}

// Try locks the file at path if nobody holds it, without waiting; ok is
// false (with a nil lock) when it is busy.
func Try(path string, mode Mode) (h *Held, ok bool, err error) {
	fl, err := newFlock(path)
	if err != nil {
		return nil, false, err
	}
	try := fl.TryLock
	if mode == Shared {
		try = fl.TryRLock
	}
	if ok, err = try(); err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		return nil, false, nil
	}
	return &Held{fl}, true, nil
}

// RemoveIfFree deletes the lock file at path if nobody holds it (taking it
// exclusively first) and reports whether it did. Only for locks nobody can
// want again (a journal's, once the journal is gone): a process that opened
// the file just before the removal would lock an orphaned inode.
func RemoveIfFree(path string) (bool, error) {
	h, ok, err := Try(path, Exclusive)
	if err != nil || !ok {
		return false, err
	}
	defer h.Release()
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return false, err
	}
	return true, nil
}
