// Package lock is every lock pcache takes on a cache directory: flock files
// waited for under a context and a time limit, the gc turnstile, and
// per-key locks. Lock files are never deleted while they can matter and
// never copied between machines.
//
// Every wait honours its context and a time limit of its own (KeyWait,
// GCWait, MaintenanceWait): a lock that another process holds forever (a
// hung or hostile member of a shared cache's group) costs a caller at most
// that long, and the error (*TimeoutError) names the holding process when
// the system says. The blocking flock(2) or fcntl(2) runs on its own
// goroutine, and a caller whose wait ends returns at once (the lock, if it
// arrives later, is released by that goroutine). No mutex is held across a
// blocking wait. One open file description backs each acquisition, because
// flock(2) and OFD locks belong to the description: two acquisitions in one
// process exclude each other, and the OS releases a dead holder's locks.
//
// Lock files are opened without following a symbolic link and without
// blocking on a FIFO, and must be regular files (fsutil.OpenRegular): a link
// planted at a lock's path makes that lock fail (its callers degrade), never
// makes pcache create or lock a file elsewhere. Lock files are never
// written, so a hard link to another user's file costs that file nothing.
package lock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// FileMode is the mode of every lock file (before the umask): locks are
// opened read-write, by every user who shares a cache.
const FileMode fs.FileMode = 0o666

// dirMode is the mode of lock directories (before the umask).
const dirMode fs.FileMode = 0o777

// Default time limits of lock waits.
const (
	// KeyWait bounds how long a call waits for another process computing
	// the same key; then it computes the key itself (and stores it: a
	// second copy of an entry is harmless). Longer than most functions
	// take, short enough that a lock held forever is noticed.
	KeyWait = 3 * time.Minute
	// GCWait bounds how long a writer waits at the gc turnstile (while gc
	// runs, or while someone holds the turnstile); then the result is
	// returned without being stored.
	GCWait = time.Minute
	// MaintenanceWait bounds how long Forget, compaction and repair wait for
	// a manifest's maintenance lock; then they fail with a *TimeoutError.
	MaintenanceWait = time.Minute
)

// Mode says whether a lock is shared or exclusive.
type Mode int

const (
	Shared Mode = iota
	Exclusive
)

// ErrTimeout is wrapped by the error of a wait that ran out of its time
// limit (a *TimeoutError).
var ErrTimeout = errors.New("lock wait timed out")

// TimeoutError is a lock wait that ran out of its time limit.
type TimeoutError struct {
	Path   string
	Waited time.Duration
	Holder string // "process 1234 (name)", or empty when the system does not say
}

func (e *TimeoutError) Error() string {
	who := e.Holder
	if who == "" {
		who = "another process (the system does not say which)"
	}
	return fmt.Sprintf("lock %s: still held by %s after waiting %v: %v", e.Path, who, e.Waited.Round(time.Millisecond), ErrTimeout)
}

func (e *TimeoutError) Unwrap() error { return ErrTimeout }

// Held is one acquired file lock.
type Held struct{ l *lockFile }

// Release unlocks and closes the lock file. It is safe to call on nil and
// more than once.
func (h *Held) Release() {
	if h != nil && h.l != nil {
		h.l.close()
		h.l = nil
	}
}

func open(path string) (*lockFile, error) {
	l, err := openLockFile(path)
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(path), dirMode); err == nil {
			l, err = openLockFile(path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return l, nil
}

// Acquire locks the file at path (creating it and its directory if needed),
// waiting until it is free or ctx is done.
func Acquire(ctx context.Context, path string, mode Mode) (*Held, error) {
	return AcquireWithin(ctx, path, mode, 0)
}

// AcquireWithin is Acquire that also gives up after limit (if positive),
// with a *TimeoutError naming the holder when the system says.
func AcquireWithin(ctx context.Context, path string, mode Mode, limit time.Duration) (*Held, error) {
	l, err := open(path)
	if err != nil {
		return nil, err
	}
	if ok, err := l.try(mode); err != nil {
		l.close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	} else if ok {
		return &Held{l}, nil
	}
	block := func() error {
		if err := l.block(mode); err != nil {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		return nil
	}
	err = waitFor(ctx, limit, block, l.close, func(waited time.Duration, cerr error) error {
		if cerr != nil {
			return fmt.Errorf("lock %s (held by %s): %w", path, orUnknown(l.holder()), cerr)
		}
		return &TimeoutError{Path: path, Waited: waited, Holder: l.holder()}
	})
	if err != nil {
		return nil, err
	}
	return &Held{l}, nil
}

// waitFor runs block on a goroutine of its own until it returns, ctx is
// done or limit (if positive) passes. A wait given up on leaves the
// goroutine to run giveBack once block returns. fail makes the error of a
// wait given up on: cerr is ctx's error, or nil for the time limit.
func waitFor(ctx context.Context, limit time.Duration, block func() error, giveBack func(), fail func(waited time.Duration, cerr error) error) error {
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- block() }()
	var timeout <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case err := <-done:
		if err != nil {
			giveBack()
		}
		return err
	case <-ctx.Done():
		err = fail(time.Since(start), ctx.Err())
	case <-timeout:
		err = fail(time.Since(start), nil)
	}
	go func() { <-done; giveBack() }() // give the lock back as soon as it comes
	return err
}

func orUnknown(holder string) string {
	if holder == "" {
		return "another process"
	}
	return holder
}

// TryOrBusy is Try that reports a busy lock as a *TimeoutError (waited
// for no time) naming its holder: for a wait already known to be futile.
func TryOrBusy(path string, mode Mode) (*Held, error) {
	l, err := open(path)
	if err != nil {
		return nil, err
	}
	ok, err := l.try(mode)
	if err != nil {
		l.close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		holder := l.holder()
		l.close()
		return nil, &TimeoutError{Path: path, Holder: holder}
	}
	return &Held{l}, nil
}

// Try locks the file at path if nobody holds it, without waiting; ok is
// false (with a nil lock) when it is busy.
func Try(path string, mode Mode) (h *Held, ok bool, err error) {
	l, err := open(path)
	if err != nil {
		return nil, false, err
	}
	if ok, err = l.try(mode); err != nil || !ok {
		l.close()
		if err != nil {
			return nil, false, fmt.Errorf("lock %s: %w", path, err)
		}
		return nil, false, nil
	}
	return &Held{l}, true, nil
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
