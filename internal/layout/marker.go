package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// MarkerFormat and MarkerVersion are the marker's format name and the cache
// layout version this pcache writes and reads.
const (
	MarkerFormat  = "pcache-cache"
	MarkerVersion = 1
	Digest        = "blake3-256"
)

// marker is the content of pcache.json.
type marker struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Digest  string `json:"digest"`
}

var (
	// ErrNotCache is wrapped by Check's error for a directory that is not a
	// pcache cache.
	ErrNotCache = errors.New("not a pcache cache directory")
	// ErrNewerCache is wrapped by Check's error for a cache whose marker
	// names a layout version newer than this pcache reads.
	ErrNewerCache = errors.New("cache written by a newer pcache")
)

// legacyReadme is the first line of the README every release before the
// marker wrote into each cache: such a directory is a cache of layout 1.
const legacyReadme = "This directory is a pcache cache"

// CheckMarker reports whether the directory is a pcache cache: it holds a
// marker of a version this pcache reads (or, written before markers existed,
// the README every earlier release left in each cache; legacy is then true).
// A missing directory is an error wrapping fs.ErrNotExist; a directory that
// is not a cache, ErrNotCache.
func (d Dir) CheckMarker() (legacy bool, err error) {
	fi, err := os.Stat(d.root)
	if err != nil {
		return false, fmt.Errorf("cache directory %s: %w", d.root, err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("cache directory %s: not a directory: %w", d.root, ErrNotCache)
	}
	b, err := os.ReadFile(d.Marker())
	if errors.Is(err, fs.ErrNotExist) {
		r, rerr := os.ReadFile(d.Readme())
		if rerr == nil && bytes.HasPrefix(r, []byte(legacyReadme)) {
			return true, nil
		}
		return false, fmt.Errorf("%s: %w (it has no %s)", d.root, ErrNotCache, MarkerFile)
	}
	if err != nil {
		return false, fmt.Errorf("cache directory %s: %w", d.root, err)
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil || m.Format != MarkerFormat || m.Version < 1 {
		return false, fmt.Errorf("%s: %w (%s is not a pcache marker)", d.root, ErrNotCache, MarkerFile)
	}
	if m.Version > MarkerVersion {
		return false, fmt.Errorf("%s: %w (layout version %d; this pcache reads version %d: upgrade pcache)", d.root, ErrNewerCache, m.Version, MarkerVersion)
	}
	if m.Digest != Digest {
		return false, fmt.Errorf("%s: %w (digest %q, want %q)", d.root, ErrNotCache, m.Digest, Digest)
	}
	return false, nil
}

// IsCacheEntry reports whether name, found directly in a cache directory,
// is one pcache writes there (a directory or file of the layout, or the
// marker's temp file while it is being written).
func IsCacheEntry(name string) bool {
	switch name {
	case MarkerFile, ReadmeFile, ObjectsDir, ManifestsDir, TmpDir, LostFoundDir, LocksDir, RemoteDir:
		return true
	}
	return strings.HasPrefix(name, markerTemp)
}

// markerTemp prefixes the temp file the marker is written to.
const markerTemp = ".pcache.json."

// WriteMarker writes the marker and the README into a cache directory that
// lacks them (an existing marker is left alone). The marker is written to a
// temp file in the root and renamed into place, so a reader never sees half
// of it.
func (d Dir) WriteMarker() error {
	if _, err := os.Stat(d.Marker()); err == nil {
		return nil
	}
	b, _ := json.Marshal(marker{Format: MarkerFormat, Version: MarkerVersion, Digest: Digest})
	b = append(b, '\n')
	tmp, err := os.CreateTemp(d.root, markerTemp+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", d.Marker(), err)
	}
	_, werr := tmp.Write(b)
	if werr == nil {
		werr = tmp.Chmod(0o644) // CreateTemp makes it 0600: others sharing the cache must read it
	}
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), d.Marker())
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", d.Marker(), werr)
	}
	d.writeReadme()
	return nil
}

// writeReadme leaves the courtesy README, once; failure is harmless.
func (d Dir) writeReadme() {
	if _, err := os.Stat(d.Readme()); err == nil {
		return
	}
	f, err := os.OpenFile(d.Readme(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return
	}
	f.WriteString(strings.TrimLeft(readmeText, "\n"))
	f.Close()
}

const readmeText = `
This directory is a pcache cache (a permanent cache of Go function results).

  pcache.json  marks the directory as a cache (format and layout version)
  objects/     immutable results and out-file contents, named by the BLAKE3-256
               of their bytes: loose files (b3sum verifies any of them) and
               packs of small objects under objects/pack/
  manifests/   per-function CBOR indexes: argument key -> object
  tmp/         in-progress writes; safe to delete when no process runs
  locks/       lock files; do not copy them between machines

Inspect and maintain it with pcache-fsck (check, gc, stats, ls, rm, explain,
cat-object, export, import). Merge it into another cache (the index first,
then the objects):

  rsync -a --exclude /tmp/ --exclude /locks/ --exclude /objects/ SRC/ DST/
  rsync -a --exclude /tmp/ --exclude /locks/ --exclude /manifests/ SRC/ DST/

Entries on both sides are kept. rsync --delete makes a mirror, not a merge.
`
