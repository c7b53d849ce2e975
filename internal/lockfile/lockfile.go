// Package lockfile takes gofrs/flock file locks with a context: a wait that
// can be abandoned, and one *flock.Flock per acquisition (never shared).
package lockfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
)

// Lock locks the file at path (creating it and its directory if needed),
// shared or exclusive, waiting until it is free or ctx is done. The blocking
// flock(2) runs in its own goroutine; if ctx ends first, that goroutine
// releases the lock as soon as it gets it. Release with Unlock.
func Lock(ctx context.Context, path string, shared bool) (*flock.Flock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o644))
	try, block := fl.TryLock, fl.Lock
	if shared {
		try, block = fl.TryRLock, fl.RLock
	}
	if ok, err := try(); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	} else if ok {
		return fl, nil
	}
	done := make(chan error, 1)
	go func() { done <- block() }()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return fl, nil
	case <-ctx.Done():
		go func() {
			if <-done == nil {
				fl.Unlock()
			}
		}()
		return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
	}
}

// TryLock locks the file at path exclusively if nobody holds it, without
// waiting. It reports false (and a nil lock) when the file is busy.
func TryLock(path string) (*flock.Flock, bool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o644))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		return nil, false, nil
	}
	return fl, true, nil
}
