package archive

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/maintain"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// ImportReport is what Import added.
type ImportReport struct {
	Dir        string `json:"dir"`
	File       string `json:"file"`
	Name       string `json:"name"`
	Entries    int    `json:"entries"`
	Objects    int    `json:"objects"`
	NewObjects int    `json:"new_objects"`
	Bytes      int64  `json:"bytes"`
	// Replaced counts the imported entries whose key had a live entry in
	// the function with another result or other out files: the import
	// overrode it. ReplacedKeys names them (shortHash; at most
	// maxListedReplaced, always present in JSON, [] when none).
	Replaced     int      `json:"replaced"`
	ReplacedKeys []string `json:"replaced_keys"`
	// Unchanged counts the imported entries the function held already,
	// with the same result and out files.
	Unchanged int `json:"unchanged"`
}

// maxListedReplaced bounds ImportReport.ReplacedKeys.
const maxListedReplaced = 1000

// Overrides says, for people, which existing entries the import replaced
// ("" when none): "replaced 2 existing entries of NAME: 0a1b2c3d4e5f,
// 0f0e0d0c0b0a".
func (r *ImportReport) Overrides() string {
	if r.Replaced == 0 {
		return ""
	}
	s := fmt.Sprintf("replaced %d existing %s of %s: %s", r.Replaced, map[bool]string{true: "entry", false: "entries"}[r.Replaced == 1],
		r.Name, strings.Join(r.ReplacedKeys, ", "))
	if r.Replaced > len(r.ReplacedKeys) {
		s += fmt.Sprintf(" and %d more", r.Replaced-len(r.ReplacedKeys))
	}
	return s
}

// maxArchiveObject bounds the size an entry may record for an object (a
// TiB): larger sizes are refused before anything is read or summed.
const maxArchiveObject = 1 << 40

// ErrBadArchive wraps every reason an archive is refused.
var ErrBadArchive = errors.New("not a valid pcache export")

func badArchive(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadArchive, fmt.Sprintf(format, args...))
}

// Import reads a tar written by Export and adds its entries under the
// exported name, or newName. Every object is hashed while it is stored and
// must match its name; every entry must reference only objects the archive
// holds. Anything else in the archive (a path with "..", an absolute path, a
// link, an unknown file, an oversize header or entries file) rejects the
// whole import, and no entry is added. Entries are stamped with the time of
// the import (so they win over older records of the same keys). Objects
// already in the store are shared, not copied.
func Import(ctx context.Context, c *maintain.Cache, r io.Reader, newName string, p maintain.Progress) (*ImportReport, error) {
	if newName != "" {
		if err := layout.CheckName(newName); err != nil {
			return nil, err
		}
	}
	store, err := c.WritableObjects()
	if err != nil {
		return nil, fmt.Errorf("open the object store for writing: %w", err)
	}
	im := &importRun{c: c, tr: tar.NewReader(r), store: store}

	// 1. The header.
	if err := im.readHeader(newName); err != nil {
		return nil, err
	}

	// 2. The entries.
	if err := im.readEntries(); err != nil {
		return nil, err
	}
	if err := im.sizeObjects(); err != nil {
		return nil, err
	}

	// 3. The objects, inside the gc turnstile (until the entries are
	// committed) so a concurrent gc cannot take them while still unreferenced.
	leave, err := c.Enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("enter the gc turnstile: %w", err)
	}
	defer leave()
	im.rep = &ImportReport{Dir: c.Dir(), Name: im.name, Entries: len(im.entries), ReplacedKeys: []string{}}
	var total int64
	for _, n := range im.sizes {
		total += n
	}
	bar := maintain.StartProgress(p, "importing", total, true)
	defer bar.Done()
	if err := im.storeObjects(ctx, bar); err != nil {
		return nil, err
	}
	if err := im.checkObjects(); err != nil {
		return nil, err
	}

	// 4. The entries, stamped now: an imported entry must win over an
	// older record (a tombstone from rm, say) of the same key.
	if err := im.addEntries(); err != nil {
		return nil, err
	}
	return im.rep, nil
}

// importRun is one import's state as it passes from phase to phase.
type importRun struct {
	c     *maintain.Cache
	tr    *tar.Reader
	store *cas.Store

	head    archiveHeaderV1
	name    string           // the function the entries go to
	entries []record.Entry   // the archive's entries
	sizes   map[cas.ID]int64 // what the entries need, by object
	have    map[cas.ID]int64 // what the archive held, by object
	rep     *ImportReport    // from the objects phase on
}

// readHeader reads and checks the archive's header file and settles the
// name the entries go to (newName, or the exported one).
func (im *importRun) readHeader(newName string) error {
	hdr, err := nextFile(im.tr)
	if err == io.EOF {
		return badArchive("empty archive")
	}
	if err != nil {
		return err
	}
	if hdr.Name != archiveHeader || hdr.Typeflag != tar.TypeReg {
		return badArchive("first file is %q, want %s", hdr.Name, archiveHeader)
	}
	if hdr.Size > maxHeaderBytes {
		return badArchive("%s is %d bytes (limit %d)", archiveHeader, hdr.Size, maxHeaderBytes)
	}
	head := &im.head
	hb, err := io.ReadAll(io.LimitReader(im.tr, maxHeaderBytes))
	if err != nil {
		return fmt.Errorf("read %s: %w", archiveHeader, err)
	}
	if err := json.Unmarshal(hb, head); err != nil {
		return badArchive("%s: %v", archiveHeader, err)
	}
	if head.Format != archiveFormat {
		return badArchive("format %q, want %q", head.Format, archiveFormat)
	}
	if head.Entries < 0 || head.Objects < 0 {
		return badArchive("header says %d entries and %d objects", head.Entries, head.Objects)
	}
	if head.Version != archiveVersion {
		return badArchive("version %d; this pcache reads version %d", head.Version, archiveVersion)
	}
	name := head.Name
	if newName != "" {
		name = newName
	}
	if name == "" {
		return badArchive("header names no function; give NEWNAME")
	}
	if err := layout.CheckName(name); err != nil {
		return badArchive("header names function %q: %v; give NEWNAME", name, err)
	}
	if err := im.c.Layout().CheckCollision(name); err != nil {
		return err
	}
	im.name = name
	return nil
}

// readEntries reads the archive's entries file, holding no more entries
// than the header says it has.
func (im *importRun) readEntries() error {
	hdr, err := nextFile(im.tr)
	if err == io.EOF {
		return badArchive("archive ends after the header")
	}
	if err != nil {
		return err
	}
	if hdr.Name != archiveEntries || hdr.Typeflag != tar.TypeReg {
		return badArchive("second file is %q, want %s", hdr.Name, archiveEntries)
	}
	if hdr.Size > maxEntriesBytes {
		return badArchive("%s is %d bytes (limit %d)", archiveEntries, hdr.Size, maxEntriesBytes)
	}
	var entries []record.Entry
	dec := archiveDecMode.NewDecoder(io.LimitReader(im.tr, hdr.Size))
	for {
		var a archiveEntry
		err := dec.Decode(&a)
		if err == io.EOF {
			break
		}
		if err != nil {
			return badArchive("%s: entry %d: %v", archiveEntries, len(entries)+1, err)
		}
		en, err := fromArchive(a)
		if err != nil {
			return badArchive("%s: %v", archiveEntries, err)
		}
		// The header's count bounds what is held in memory: an entries
		// file with more is refused at the first entry too many.
		if len(entries) >= im.head.Entries {
			return badArchive("%s holds more than the %d entries the header says", archiveEntries, im.head.Entries)
		}
		entries = append(entries, en)
	}
	if len(entries) != im.head.Entries {
		return badArchive("%s holds %d entries, header says %d", archiveEntries, len(entries), im.head.Entries)
	}
	im.entries = entries
	return nil
}

// sizeObjects collects what the entries need, by object, refusing sizes
// over the limit and entries that disagree on an object's size.
func (im *importRun) sizeObjects() error {
	im.sizes = map[cas.ID]int64{}
	for _, en := range im.entries {
		for id, ref := range maintain.ObjectsOf(im.name, en) {
			if ref.Size > maxArchiveObject {
				return badArchive("entry %s records %d bytes for object %s (limit %d)", maintain.ShortHash(en.KeyHash), ref.Size, id, int64(maxArchiveObject))
			}
			if n, ok := im.sizes[id]; ok && n != ref.Size {
				return badArchive("entries record both %d and %d bytes for object %s", n, ref.Size, id)
			}
			im.sizes[id] = ref.Size
		}
	}
	return nil
}

// storeObjects stores every object of the archive, hashing it on the way,
// and refuses any file the entries do not need or that is not what they
// promise. The caller is inside the gc turnstile.
func (im *importRun) storeObjects(ctx context.Context, bar maintain.Counter) error {
	rep := im.rep
	im.have = map[cas.ID]int64{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := nextFile(im.tr)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			if hdr.Name == layout.ObjectsDir+"/" || len(hdr.Name) == 11 && layout.IsLowerHex(strings.TrimSuffix(strings.TrimPrefix(hdr.Name, layout.ObjectsDir+"/"), "/"), 2) {
				continue // directories written by a hand-made tar
			}
			return badArchive("unexpected directory %q", hdr.Name)
		}
		id, ok := objectFromArchiveName(hdr.Name)
		if !ok {
			return badArchive("unexpected file %q (want objects/ab/<62 hex>)", hdr.Name)
		}
		// Check everything the header promises before reading a byte, so a
		// hostile archive cannot make import store more than the entries
		// need.
		want, needed := im.sizes[id]
		switch {
		case !needed:
			return badArchive("%s: no entry references this object", hdr.Name)
		case hdr.Size != want:
			return badArchive("%s: %d bytes, but the entries record %d", hdr.Name, hdr.Size, want)
		}
		existed, _ := im.store.Has(id)
		src := io.TeeReader(io.LimitReader(im.tr, hdr.Size), counterWriter{bar})
		var got cas.ID
		var n int64
		if im.head.Compression == compressionZstd {
			got, n, err = im.store.PutReaderCompressed(src, hdr.Size, cas.DefaultCompression)
		} else {
			got, n, err = im.store.PutReader(src)
		}
		if err != nil {
			return fmt.Errorf("store %s: %w", hdr.Name, err)
		}
		if got != id || n != hdr.Size {
			// The stored object is a valid object under its own name, just
			// not the one promised; gc removes it.
			return badArchive("%s: content hashes to %s (%d bytes): archive is corrupt", hdr.Name, got, n)
		}
		if _, dup := im.have[id]; !dup {
			rep.Objects++
			rep.Bytes += n
			if !existed {
				rep.NewObjects++
			}
		}
		im.have[id] = n
	}
	return nil
}

// checkObjects refuses an archive that held another number of objects
// than its header says, or lacks an object (or its size) an entry needs.
func (im *importRun) checkObjects() error {
	if im.rep.Objects != im.head.Objects {
		return badArchive("holds %d objects, header says %d", im.rep.Objects, im.head.Objects)
	}
	for _, en := range im.entries {
		for id, ref := range maintain.ObjectsOf(im.name, en) {
			n, ok := im.have[id]
			if !ok {
				return badArchive("entry %s references object %s, which the archive lacks", maintain.ShortHash(en.KeyHash), id)
			}
			if n != ref.Size {
				return badArchive("entry %s records %d bytes for object %s, which has %d", maintain.ShortHash(en.KeyHash), ref.Size, id, n)
			}
		}
	}
	return nil
}

// addEntries stamps the entries with the time of the import and appends
// them to the function's manifest, noting which live entries they replace.
func (im *importRun) addEntries() error {
	c, name, entries := im.c, im.name, im.entries
	for i := range entries {
		entries[i].Time = 0
	}
	m, err := manifest.Open(c.Layout(), name, c.ManifestOptions())
	if err != nil {
		return fmt.Errorf("open manifest %s: %w", name, err)
	}
	if err := overrides(m, entries, im.rep); err != nil {
		m.Close()
		return fmt.Errorf("import: read %s: %w", name, err)
	}
	for i := 0; i < len(entries); i += 1000 {
		if err := m.Append(entries[i:min(i+1000, len(entries))]...); err != nil {
			m.Close()
			return fmt.Errorf("add entries to %s: %w", name, err)
		}
	}
	if err := m.Close(); err != nil {
		return fmt.Errorf("close manifest %s: %w", name, err)
	}
	return nil
}

// nextFile returns the next tar header, mapping tar's errors to
// errBadArchive. io.EOF is returned as is at the end.
func nextFile(tr *tar.Reader) (*tar.Header, error) {
	hdr, err := tr.Next()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, badArchive("%v", err)
	}
	if strings.Contains(hdr.Name, "..") || strings.HasPrefix(hdr.Name, "/") || strings.Contains(hdr.Name, `\`) {
		return nil, badArchive("unsafe path %q", hdr.Name)
	}
	if hdr.Size < 0 {
		return nil, badArchive("%s: negative size", hdr.Name)
	}
	// Only plain files (and directories, checked by the caller) belong in
	// an export. Sparse files in particular would let a small archive
	// expand to any size.
	if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeDir {
		return nil, badArchive("%s: not a regular file (type %q)", hdr.Name, hdr.Typeflag)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return nil, badArchive("%s: sparse file", hdr.Name)
		}
	}
	return hdr, nil
}

// overrides fills rep's Replaced and Unchanged: which of entries find a
// live entry of the function under their key (the import overrides it),
// with another result or other out files, or the same.
func overrides(m *manifest.Manifest, entries []record.Entry, rep *ImportReport) error {
	if err := m.Refresh(); err != nil {
		return err
	}
	seen := make(map[[32]byte]bool, len(entries))
	for i := range entries {
		en := &entries[i]
		if seen[en.KeyHash] {
			continue // an archive's duplicate key: counted once
		}
		seen[en.KeyHash] = true
		old, ok, err := m.Peek(en.KeyHash)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if sameContent(&old, en) {
			rep.Unchanged++
			continue
		}
		rep.Replaced++
		if len(rep.ReplacedKeys) < maxListedReplaced {
			rep.ReplacedKeys = append(rep.ReplacedKeys, maintain.ShortHash(en.KeyHash))
		}
	}
	return nil
}

// sameContent reports whether two entries of one key give the same call
// the same answer: result, codec, type and out-file contents.
func sameContent(a, b *record.Entry) bool {
	if a.Result != b.Result || a.Size != b.Size || a.Codec != b.Codec || a.Type != b.Type || len(a.Outs) != len(b.Outs) {
		return false
	}
	for i := range a.Outs {
		if a.Outs[i].Arg != b.Outs[i].Arg || a.Outs[i].Object != b.Outs[i].Object || a.Outs[i].Size != b.Outs[i].Size || a.Outs[i].Mode != b.Outs[i].Mode {
			return false
		}
	}
	return true
}
