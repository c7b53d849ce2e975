package manifest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/lock"
)

// isManifestFile reports whether a directory entry is a manifest file.
// Only names of the two shapes layout gives journals and segments are;
// anything else in a manifest directory is a nested function's directory or
// a stray.
func isManifestFile(e os.DirEntry) bool {
	return e.Type().IsRegular() && (layout.IsJournalName(e.Name()) || layout.IsSegmentName(e.Name()))
}

// listing is what a manifest directory holds, each list sorted by name.
type listing struct {
	journals, segments []string
	strays             []string // regular files that are not manifest files
}

// listDir lists a manifest directory. A directory that does not exist is
// empty.
func listDir(dir string) (listing, error) {
	var l listing
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return l, nil
		}
		return l, fmt.Errorf("manifest: list %s: %w", dir, err)
	}
	for _, e := range ents {
		n := e.Name()
		switch {
		case e.IsDir():
		case isManifestFile(e) && layout.IsJournalName(n):
			l.journals = append(l.journals, n)
		case isManifestFile(e):
			l.segments = append(l.segments, n)
		default:
			l.strays = append(l.strays, n)
		}
	}
	return l, nil // os.ReadDir sorts by name
}

// manifestDir checks name with the one name rule and returns its directory.
func manifestDir(d layout.Dir, name string) (string, error) {
	if err := layout.CheckName(name); err != nil {
		return "", fmt.Errorf("manifest: %w", err)
	}
	return d.Manifest(name), nil
}

// List returns the names of all functions of the cache at d that have
// manifest files, sorted. A name may be a prefix directory of another ("a"
// and "a/b"); a directory is a function exactly when it holds manifest
// files.
func List(d layout.Dir) ([]string, error) {
	base := d.Manifests()
	seen := make(map[string]bool)
	err := filepath.WalkDir(base, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			if p == base && errors.Is(err, os.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if !e.Type().IsRegular() || !isManifestFile(e) {
			return nil
		}
		rel, err := filepath.Rel(base, filepath.Dir(p))
		if err != nil {
			return err
		}
		if rel != "." { // files directly in manifests/ belong to no function
			seen[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifest: list %s: %w", base, err)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// lockManifest takes the exclusive maintenance lock of manifest name (held by
// compaction, Repair and Remove). With wait it blocks until the lock is free
// or lock.MaintenanceWait passes (a *lock.TimeoutError naming the holder);
// without, it returns nil, nil when someone else holds it.
func lockManifest(d layout.Dir, name, op string, wait bool) (*lock.Held, error) {
	path := d.ManifestLock(name)
	if wait {
		h, err := lock.AcquireWithin(context.Background(), path, lock.Exclusive, lock.MaintenanceWait)
		if err != nil {
			return nil, fmt.Errorf("manifest: %s %s: %w", op, name, err)
		}
		return h, nil
	}
	h, ok, err := lock.Try(path, lock.Exclusive)
	if err != nil {
		return nil, fmt.Errorf("manifest: %s %s: %w", op, name, err)
	}
	if !ok {
		return nil, nil
	}
	return h, nil
}
