package manifest

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// File names inside a manifest directory. Only names of these two shapes are
// manifest files; anything else there is a sub-function's directory or a
// stray. Journal names are unique per writer and segment names are content
// hashes, so copying two caches into each other never overwrites one
// writer's file with another's.
const (
	journalPrefix = "j-"
	journalExt    = ".pcj"
	segmentPrefix = "s-"
	segmentExt    = ".pcs"
)

func isJournalName(n string) bool {
	return len(n) > len(journalPrefix)+len(journalExt) && strings.HasPrefix(n, journalPrefix) && strings.HasSuffix(n, journalExt) && n[0] != '.'
}

func isSegmentName(n string) bool {
	if len(n) != len(segmentPrefix)+64+len(segmentExt) || !strings.HasPrefix(n, segmentPrefix) || !strings.HasSuffix(n, segmentExt) {
		return false
	}
	for _, c := range n[len(segmentPrefix) : len(segmentPrefix)+64] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isManifestFile reports whether a directory entry is a manifest file.
func isManifestFile(e os.DirEntry) bool {
	return e.Type().IsRegular() && (isJournalName(e.Name()) || isSegmentName(e.Name()))
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
		case isManifestFile(e) && isJournalName(n):
			l.journals = append(l.journals, n)
		case isManifestFile(e):
			l.segments = append(l.segments, n)
		default:
			l.strays = append(l.strays, n)
		}
	}
	return l, nil // os.ReadDir sorts by name
}

// ErrBadName is wrapped by the error for a function name that is not a
// clean, relative, slash-separated path.
var ErrBadName = errors.New("manifest: bad function name")

// manifestDir checks name and returns <root>/manifests/<name>.
func manifestDir(root, name string) (string, error) {
	if name == "" || path.Clean(name) != name || path.IsAbs(name) || name == "." || name == ".." ||
		strings.HasPrefix(name, "../") || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return filepath.Join(root, "manifests", filepath.FromSlash(name)), nil
}

// List returns the names of all functions under root that have manifest
// files, sorted. A name may be a prefix directory of another ("a" and "a/b");
// a directory is a function exactly when it holds manifest files.
func List(root string) ([]string, error) {
	base := filepath.Join(root, "manifests")
	seen := make(map[string]bool)
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if p == base && errors.Is(err, os.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if !d.Type().IsRegular() || !isManifestFile(d) {
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
