package manifest

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
	"github.com/zeebo/blake3"
)

// Locks live under <root>/locks, never inside manifests/, so copying
// manifests between machines copies no lock files (a flock is meaningful
// only on the machine that holds it).
//
//	locks/journals/<journal file name>.lock   held by the journal's writer while it may append
//	locks/manifests/<hash of name>.lock       held exclusively while compacting, repairing or removing
//
// A journal whose lock can be taken has no live writer on this machine (it
// closed, died, or the journal was copied from elsewhere) and will never be
// appended to again, so it may be compacted. Each acquisition uses its own
// *flock.Flock: flock(2) locks belong to the open file, so two instances in
// one process exclude each other, while one instance does not.

func journalLockPath(root, journal string) string {
	return filepath.Join(root, "locks", "journals", journal+".lock")
}

func manifestLockPath(root, name string) string {
	sum := blake3.Sum256([]byte(name))
	return filepath.Join(root, "locks", "manifests", hex.EncodeToString(sum[:16])+".lock")
}

// newLock returns a lock on path, creating its directory. Lock files are
// opened read-write (NFS needs that for exclusive locks).
func newLock(path string) (*flock.Flock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("manifest: lock dir: %w", err)
	}
	return flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o666)), nil
}

// tryLock takes the lock at path if it is free.
func tryLock(path string) (*flock.Flock, bool, error) {
	l, err := newLock(path)
	if err != nil {
		return nil, false, err
	}
	ok, err := l.TryLock()
	if err != nil {
		return nil, false, fmt.Errorf("manifest: lock %s: %w", path, err)
	}
	if !ok {
		return nil, false, nil
	}
	return l, true, nil
}

// lockManifest takes the exclusive maintenance lock of manifest name (held by
// compaction, Repair and Remove). With wait it blocks until the lock is free;
// without, it returns nil, nil when someone else holds it. op names the
// operation in errors.
func lockManifest(root, name, op string, wait bool) (*flock.Flock, error) {
	lk, err := newLock(manifestLockPath(root, name))
	if err != nil {
		return nil, err
	}
	ok := true
	if wait {
		err = lk.Lock()
	} else {
		ok, err = lk.TryLock()
	}
	if err != nil {
		return nil, fmt.Errorf("manifest: %s %s: lock: %w", op, name, err)
	}
	if !ok {
		return nil, nil
	}
	return lk, nil
}
