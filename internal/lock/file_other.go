//go:build !unix

package lock

import (
	"os"

	"github.com/gofrs/flock"

	"github.com/pcache/pcache/internal/fsutil"
)

// lockFile is one lock file, locked through package flock (LockFileEx on
// Windows).
type lockFile struct {
	path string
	fl   *flock.Flock
}

// openLockFile refuses a path holding anything but a regular file (checked
// before the lock opens it: this platform has no O_NOFOLLOW).
func openLockFile(path string) (*lockFile, error) {
	f, _, err := fsutil.OpenRegular(path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return nil, err
	}
	f.Close()
	return &lockFile{path: path, fl: flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(FileMode))}, nil
}

func (l *lockFile) try(mode Mode) (bool, error) {
	if mode == Shared {
		return l.fl.TryRLock()
	}
	return l.fl.TryLock()
}

func (l *lockFile) block(mode Mode) error {
	if mode == Shared {
		return l.fl.RLock()
	}
	return l.fl.Lock()
}

func (l *lockFile) close() { l.fl.Unlock(); l.fl.Close() }

func (l *lockFile) holder() string { return "" }
