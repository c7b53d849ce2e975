package lock

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

const rangeLocks = true

// setRange locks (lock) or unlocks the byte at off of f with an
// open-file-description lock; with wait it blocks until the byte is free.
// A busy byte is errBusy; a file system without such locks, errUnsupported.
func setRange(f *os.File, off int64, lock, wait bool) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: off, Len: 1}
	if !lock {
		lk.Type = unix.F_UNLCK
	}
	cmd := unix.F_OFD_SETLK
	if wait {
		cmd = unix.F_OFD_SETLKW
	}
	for {
		err := unix.FcntlFlock(f.Fd(), cmd, &lk)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES):
			return errBusy
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP):
			return errUnsupported
		default:
			return err
		}
	}
}
