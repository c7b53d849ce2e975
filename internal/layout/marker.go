package layout

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/zeebo/blake3"
)

// MarkerFormat is the marker's format name. MarkerVersion is the layout
// version of a new cache, and of every cache that holds no compressed
// object: such a cache is byte for byte what earlier releases write, and
// they keep using it. CompressedVersion is the layout of a cache that holds
// compressed objects (objects/ab/<62 hex>.zst, see package cas): the first
// compressed write raises the marker to it (UpgradeMarker), so that an
// earlier release, which would take those objects for strays and the
// entries naming them for broken, refuses the cache ("written by a newer
// pcache") instead of repairing them away. This pcache reads every version
// up to MaxMarkerVersion.
const (
	MarkerFormat      = "pcache-cache"
	MarkerVersion     = 1
	CompressedVersion = 2
	MaxMarkerVersion  = CompressedVersion
	Digest            = "blake3-256"
)

// markerCompression is what a marker of CompressedVersion says in its
// field "compression": the codec of the objects named <id>.zst. The field
// also makes such a marker longer than one of version 1, which is what
// carries it through the README's rsync commands: --append-verify skips a
// file the receiver holds at the same length or longer, and sends a longer
// one whole when its start differs.
const markerCompression = "zstd"

// marker is the content of pcache.json. Sum, written since it was added,
// is a checksum of format, version and digest: it tells a marker damaged on
// disk (a flipped digit of the version, say) from one a newer pcache wrote.
// A marker without it is one written before it existed: version 1.
// Compression (CompressedVersion only) is informational and outside the
// checksum, so that releases before it judge a marker of version 2 by the
// same checksum they know: sound, and newer.
type marker struct {
	Format      string `json:"format"`
	Version     int    `json:"version"`
	Digest      string `json:"digest"`
	Compression string `json:"compression,omitempty"`
	Sum         string `json:"sum,omitempty"`
}

// markerSum is the checksum a marker carries: the first 8 hex digits of the
// BLAKE3 of "format version digest".
func markerSum(format string, version int, digest string) string {
	s := blake3.Sum256([]byte(fmt.Sprintf("%s %d %s", format, version, digest)))
	return hex.EncodeToString(s[:4])
}

var (
	// ErrNotCache is wrapped by CheckMarker's error for a directory that is
	// not a pcache cache (or does not exist). It is the one "not a cache"
	// sentinel: pcache.ErrNotCache is this error, so the library's Open and
	// maintenance refuse a directory alike and errors.Is finds either. Its
	// message carries the "pcache: " prefix the root package's errors start
	// with, as pcache.Open's error starts with it.
	ErrNotCache = errors.New("pcache: not a cache directory")
	// ErrNewerCache is wrapped by CheckMarker's error for a cache whose
	// marker names a layout version newer than this pcache reads.
	ErrNewerCache = errors.New("cache written by a newer pcache")
	// ErrDamagedMarker is wrapped by CheckMarker's error for a directory
	// that is a cache (it holds nothing but a cache's files, and its
	// objects/ or manifests/) whose marker is damaged or missing:
	// RepairMarker rewrites it.
	ErrDamagedMarker = errors.New("bad cache marker")
)

// legacyReadme is the first line of the README every release before the
// marker wrote into each cache: such a directory is a cache of layout 1.
const legacyReadme = "This directory is a pcache cache"

// CheckMarker is the one answer to "is this directory a pcache cache?", for
// the library and for maintenance alike. It returns nil when the directory
// holds a marker of a version this pcache reads (or, written before markers
// existed, the README every earlier release left in each cache; legacy is
// then true). Otherwise its error wraps:
//
//   - ErrDamagedMarker: pcache.json is damaged (not JSON, truncated, its
//     checksum or version wrong) or missing, but the directory is otherwise
//     recognisably a cache (IsCacheDir). The cache can be used; RepairMarker
//     rewrites the marker.
//   - ErrNewerCache: a sound marker of a layout version newer than
//     MarkerVersion. A garbled marker is never read as a newer version: a
//     newer pcache writes the checksum, and a version above MarkerVersion
//     without a matching one is damage.
//   - ErrNotCache: anything else that is not a cache, including a missing
//     directory (then also fs.ErrNotExist).
//   - fs.ErrPermission (and other I/O errors), as they are: a directory this
//     process may not read is not called "not a cache".
func (d Dir) CheckMarker() (legacy bool, err error) {
	fi, err := os.Stat(d.root)
	if errors.Is(err, fs.ErrNotExist) {
		return false, missingDir(d.root)
	}
	if err != nil {
		return false, fmt.Errorf("cache directory %s: %w", d.root, err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%s: %w: not a directory", d.root, ErrNotCache)
	}
	b, err := readSmall(d.Marker()) // a FIFO, link or giant file planted there is damage
	if errors.Is(err, fs.ErrNotExist) {
		r, rerr := readSmall(d.Readme())
		if rerr == nil && bytes.HasPrefix(r, []byte(legacyReadme)) {
			return true, nil
		}
		if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return false, fmt.Errorf("cache directory %s: %w", d.root, rerr)
		}
		return false, d.damaged("missing")
	}
	if errors.Is(err, errPlanted) {
		return false, d.damaged(fmt.Sprintf("damaged: %v", err))
	}
	if err != nil {
		return false, fmt.Errorf("cache directory %s: %w", d.root, err)
	}
	if soundMarker(b) {
		return false, nil
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil {
		return false, d.damaged(fmt.Sprintf("damaged: not a JSON object (%d bytes; truncated or garbled)", len(b)))
	}
	switch {
	case m.Sum != "" && m.Sum != markerSum(m.Format, m.Version, m.Digest):
		return false, d.damaged("damaged: its checksum does not match its fields")
	case m.Format != MarkerFormat:
		// Valid JSON of another shape and no checksum: some other tool's file.
		return false, fmt.Errorf("%s: %w: %s is not a pcache marker (format %q)", d.root, ErrNotCache, MarkerFile, m.Format)
	case m.Version < 1:
		return false, d.damaged(fmt.Sprintf("damaged: layout version %d is not one any pcache wrote", m.Version))
	case m.Version > MarkerVersion && m.Sum == "":
		return false, d.damaged(fmt.Sprintf("damaged: layout version %d without the checksum every newer pcache writes (a garbled version, not a newer cache)", m.Version))
	case m.Version > MaxMarkerVersion:
		return false, fmt.Errorf("%s: %w (layout version %d; this pcache reads versions up to %d: upgrade pcache)", d.root, ErrNewerCache, m.Version, MaxMarkerVersion)
	case m.Digest != Digest:
		return false, d.damaged(fmt.Sprintf("damaged: digest %q, want %q", m.Digest, Digest))
	}
	return false, nil
}

// writtenMarkers are the markers writeMarker writes, byte for byte, of
// each layout version (TestWrittenMarkers keeps them so): a marker equal
// to one of them is sound and read without decoding JSON, which costs a
// process's first Open a third of a millisecond.
var writtenMarkers = [...]string{
	`{"format":"pcache-cache","version":1,"digest":"blake3-256","sum":"eddd5f85"}` + "\n",
	`{"format":"pcache-cache","version":2,"digest":"blake3-256","compression":"zstd","sum":"7fbec7e9"}` + "\n",
}

// soundMarker reports whether b is a marker this pcache writes.
func soundMarker(b []byte) bool {
	for _, w := range writtenMarkers {
		if string(b) == w {
			return true
		}
	}
	return false
}

// missingDir is CheckMarker's error for a directory that does not exist: it
// wraps ErrNotCache and fs.ErrNotExist.
type missingDir string

func (e missingDir) Error() string {
	return string(e) + ": " + ErrNotCache.Error() + ": it does not exist"
}
func (e missingDir) Unwrap() []error { return []error{ErrNotCache, fs.ErrNotExist} }

// damaged is CheckMarker's error for a marker that is missing or damaged:
// ErrDamagedMarker when the directory is otherwise a cache, else
// ErrNotCache.
func (d Dir) damaged(how string) error {
	why := d.notCacheDir()
	if why == "" {
		return fmt.Errorf("%s: %w: %s is %s, in a directory that is otherwise a cache", d.root, ErrDamagedMarker, MarkerFile, how)
	}
	if how == "missing" {
		return fmt.Errorf("%s: %w: it has no %s", d.root, ErrNotCache, MarkerFile)
	}
	return fmt.Errorf("%s: %w: %s is %s, and %s", d.root, ErrNotCache, MarkerFile, how, why)
}

// IsCacheDir reports whether the directory, whatever its marker, is
// recognisably a cache: it holds only names pcache writes (OnlyCacheEntries)
// and at least one of objects/ and manifests/.
func (d Dir) IsCacheDir() bool { return d.notCacheDir() == "" }

// notCacheDir says why the directory is not recognisably a cache ("" if it
// is).
func (d Dir) notCacheDir() string {
	ents, err := os.ReadDir(d.root)
	if err != nil {
		return "the directory cannot be listed: " + err.Error()
	}
	sub := false
	for _, e := range ents {
		if !IsCacheEntry(e.Name()) {
			return fmt.Sprintf("the directory holds %q, which no cache has", e.Name())
		}
		if e.IsDir() && (e.Name() == ObjectsDir || e.Name() == ManifestsDir) {
			sub = true
		}
	}
	if !sub {
		return fmt.Sprintf("the directory holds neither %s/ nor %s/", ObjectsDir, ManifestsDir)
	}
	return ""
}

// OnlyCacheEntries reports whether the directory holds nothing but names
// pcache writes: it is empty, another process is creating a cache in it
// right now, or it is a cache (whatever its marker says). pcache.Open makes
// such a directory a cache; it refuses any other without a sound marker.
func (d Dir) OnlyCacheEntries() bool {
	ents, err := os.ReadDir(d.root)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !IsCacheEntry(e.Name()) {
			return false
		}
	}
	return true
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
// temp file in tmp/ and renamed into place, so a reader never sees half of
// it.
func (d Dir) WriteMarker() error {
	if _, err := os.Stat(d.Marker()); err == nil {
		return nil
	}
	if err := d.writeMarker(MarkerVersion); err != nil {
		return err
	}
	d.writeReadme()
	return nil
}

// LayoutVersion returns the layout version the cache's marker names: 1 for
// a cache from before markers, 0 when the marker is damaged, missing or not
// a cache's.
func (d Dir) LayoutVersion() int {
	legacy, err := d.CheckMarker()
	if err != nil {
		return 0
	}
	if legacy {
		return MarkerVersion
	}
	b, err := readSmall(d.Marker())
	if err != nil {
		return 0
	}
	var m marker
	if json.Unmarshal(b, &m) != nil {
		return 0
	}
	return m.Version
}

// UpgradeMarker makes the marker name layout version at least version
// (CompressedVersion before the first compressed object is stored): a
// sound marker of a lower version, a damaged or missing one in a
// directory that is a cache, and the README of a cache from before markers
// are replaced (atomically); a marker of that version or newer is left
// alone. Writers that race write identical files.
func (d Dir) UpgradeMarker(version int) error {
	if version < MarkerVersion || version > MaxMarkerVersion {
		return fmt.Errorf("upgrade %s: no layout version %d", d.Marker(), version)
	}
	if _, err := d.CheckMarker(); err != nil && !errors.Is(err, ErrDamagedMarker) {
		return fmt.Errorf("upgrade %s: %w", d.Marker(), err)
	}
	if d.LayoutVersion() >= version {
		return nil
	}
	if err := d.writeMarker(version); err != nil {
		return err
	}
	d.writeReadme()
	return nil
}

// RepairMarker replaces a damaged or missing marker with a sound one of
// layout version (MarkerVersion, or CompressedVersion for a cache that
// holds compressed objects) and leaves the README if there is none. It
// refuses unless CheckMarker says the marker is damaged: a sound marker, a
// newer one and a directory that is not a cache are left alone.
func (d Dir) RepairMarker(version int) error {
	_, err := d.CheckMarker()
	if !errors.Is(err, ErrDamagedMarker) {
		if err == nil {
			return nil
		}
		return fmt.Errorf("repair %s: %w", d.Marker(), err)
	}
	if err := d.writeMarker(version); err != nil {
		return err
	}
	d.writeReadme()
	return nil
}

// writeMarker writes (or replaces) the marker of layout version atomically.
func (d Dir) writeMarker(version int) error {
	m := marker{Format: MarkerFormat, Version: version, Digest: Digest, Sum: markerSum(MarkerFormat, version, Digest)}
	if version >= CompressedVersion {
		m.Compression = markerCompression
	}
	b, _ := json.Marshal(m)
	b = append(b, '\n')
	// The temp file goes to tmp/ (made here for a new cache), which a sync
	// of the cache leaves out: one in the root would vanish under an rsync
	// running beside a cache's first Open or a marker upgrade (rsync exits
	// 24). The root only where tmp/ cannot be a directory of the cache's.
	dir := d.root
	os.Mkdir(d.Tmp(), 0o777) // as cas makes it; an error: it exists, or the root is not writable
	if fi, err := os.Lstat(d.Tmp()); err == nil && fi.IsDir() {
		dir = d.Tmp()
	}
	tmp, err := os.CreateTemp(dir, markerTemp+"*")
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

// readmeText is the courtesy README. Its command list is pcache-fsck's, and
// its rsync lines are the ones in the README.md section "rsync", word for
// word (TestReadmeMatchesDocs holds both to that).
const readmeText = `
This directory is a pcache cache (a permanent cache of Go function results).

  pcache.json  marks the directory as a cache (format and layout version)
  objects/     immutable results and out-file contents, named by the BLAKE3-256
               of their bytes: loose files (b3sum verifies any of them) and
               packs of small objects under objects/pack/
  manifests/   per-function CBOR indexes: argument key -> object
  remote/      what this cache knows of its remote (mirrored index, outbox)
  tmp/         in-progress writes; safe to delete when no process runs
  locks/       lock files; do not copy them between machines
  lost+found/  files set aside by pcache-fsck check -repair

Inspect and maintain it with pcache-fsck (check, gc, stats, ls, rm,
cat-object, export, import, init, remote; pcache-fsck help CMD describes
each). Merge it into another cache, the index first, then the objects,
appending to files that grew (plain -a would replace a longer journal with
an older copy) and never with --delete (that makes a mirror, not a merge):

  X='-a --append-verify --exclude /tmp/ --exclude /locks/ --exclude /lost+found/ --exclude /remote/'
  rsync $X --exclude /objects/   SRC/ DST/   # 1. manifests (the index)
  rsync $X --exclude /manifests/ SRC/ DST/   # 2. the objects they reference

Entries on both sides are kept, while programs use either. The "rsync"
section of pcache's README.md says why.
`
