package pcache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pcache/pcache/cas"
	"golang.org/x/sys/unix"
)

// lockRange takes an exclusive open-file-description lock on one byte of the
// file at path, at an offset derived from id (62 bits: collisions between
// keys are negligible and would only make one wait for the other). Each
// acquisition opens its own description, so two goroutines of one process
// exclude each other too. ok is false, with no error, when the file system
// does not support such locks; the caller then falls back to flock files.
func lockRange(ctx context.Context, path string, id cas.ID) (unlock func(bool), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	lk := unix.Flock_t{
		Type:   unix.F_WRLCK,
		Whence: io.SeekStart,
		Start:  int64(binary.BigEndian.Uint64(id[:8]) >> 2),
		Len:    1,
	}
	release := func(bool) { f.Close() } // closing the description drops its lock
	err = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	switch {
	case err == nil:
		return release, true, nil
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP):
		f.Close()
		return nil, false, nil
	case !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES):
		f.Close()
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLKW, &lk)
			if !errors.Is(err, unix.EINTR) {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, false, fmt.Errorf("lock %s: %w", path, err)
		}
		return release, true, nil
	case <-ctx.Done():
		go func() { <-done; f.Close() }() // give the lock back as soon as it comes
		return nil, false, fmt.Errorf("lock %s: %w", path, ctx.Err())
	}
}
