package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Remove deletes the manifest files of function name: its journals and
// segments, not the directories of functions nested under it. Empty
// directories left behind are removed up to manifests/. It waits for and
// holds the manifest's compaction lock, so no compaction can bring the
// entries back. A writer still running keeps appending to its journal after
// Remove deleted it, until it rotates or closes: those records are lost to
// other readers. Remove is for maintenance, not for use beside live writers.
func Remove(root, name string) error {
	dir, err := manifestDir(root, name)
	if err != nil {
		return err
	}
	lk, err := lockManifest(root, name, "remove", true)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	l, err := listDir(dir)
	if err != nil {
		return err
	}
	rm := func(p string) error {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("manifest: remove %s: %w", name, err)
		}
		return nil
	}
	for _, n := range l.segments {
		if err := rm(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	for _, n := range l.journals {
		if err := rm(filepath.Join(dir, n)); err != nil {
			return err
		}
		// The lock file goes too, unless a live writer holds it.
		if jl, ok, err := tryLock(journalLockPath(root, n)); err == nil && ok {
			os.Remove(journalLockPath(root, n))
			jl.Unlock()
		}
	}
	base := filepath.Join(root, "manifests")
	for d := dir; d != base && len(d) > len(base); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break // not empty (a nested function, a stray) or already gone
		}
	}
	return nil
}
