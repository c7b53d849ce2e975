//go:build unix

package lock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/pcache/pcache/internal/fsutil"
)

// lockFile is one open lock file: its own open file description, so its
// flock excludes every other acquisition, in this process too.
type lockFile struct {
	path string
	f    *os.File
}

// openLockFile opens (creating) the lock file at path through
// fsutil.OpenRegular: never through a symbolic link (a planted link must not
// make pcache create or lock a file elsewhere), never blocking on a FIFO,
// and only a regular file. Lock files are never written, so a hard link to
// someone's file costs them nothing.
func openLockFile(path string) (*lockFile, error) {
	f, _, err := fsutil.OpenRegular(path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return nil, err
	}
	return &lockFile{path: path, f: f}, nil
}

func flockOp(mode Mode) int {
	if mode == Shared {
		return unix.LOCK_SH
	}
	return unix.LOCK_EX
}

// try takes the lock without waiting; false when it is busy.
func (l *lockFile) try(mode Mode) (bool, error) {
	for {
		err := unix.Flock(int(l.f.Fd()), flockOp(mode)|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		default:
			return false, fmt.Errorf("flock: %w", err)
		}
	}
}

// block waits for the lock.
func (l *lockFile) block(mode Mode) error {
	for {
		err := unix.Flock(int(l.f.Fd()), flockOp(mode))
		if !errors.Is(err, unix.EINTR) {
			if err != nil {
				return fmt.Errorf("flock: %w", err)
			}
			return nil
		}
	}
}

// close releases the lock (closing the description does) and the file.
func (l *lockFile) close() { l.f.Close() }

// holder describes who holds the lock, as far as the system tells.
func (l *lockFile) holder() string { return holderOf(l.f, -1) }
