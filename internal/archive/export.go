package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/maintain"
	"github.com/pcache/pcache/internal/manifest/record"
)

// ExportReport is what Export wrote.
type ExportReport struct {
	Dir     string   `json:"dir"`
	Name    string   `json:"name"`
	File    string   `json:"file,omitempty"`
	Entries int      `json:"entries"`
	Objects int      `json:"objects"`
	Bytes   int64    `json:"bytes"`
	Skipped []string `json:"skipped,omitempty"` // entries left out, with why
}

// ExportFile is Export to a file, written atomically (temp file beside it,
// then rename).
func ExportFile(ctx context.Context, c *maintain.Cache, name, file string, p maintain.Progress) (*ExportReport, error) {
	dir := filepath.Dir(file)
	if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("write %s: directory %s does not exist", file, dir)
	} else if err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("write %s: %s is not a directory", file, dir)
	}
	tmp, err := fsutil.CreateTemp(dir, "."+filepath.Base(file)+".", 0o644)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", file, err)
	}
	rep, err := Export(ctx, c, name, tmp, p)
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	if err := fsutil.Commit(tmp, file, true); err != nil {
		return nil, fmt.Errorf("write %s: %w", file, err)
	}
	rep.File = file
	return rep, nil
}

// Export writes a self-contained tar of function name to w: a small header
// (pcache-export.json: format, version, name, counts), the live entries as a
// CBOR sequence (entries.cbor), and every object they reference, named
// objects/ab/cdef… Objects are verified as they are read; an entry whose
// objects are missing or corrupt is left out (listed in Skipped).
func Export(ctx context.Context, c *maintain.Cache, name string, w io.Writer, p maintain.Progress) (*ExportReport, error) {
	if err := c.HasFunction(name); err != nil {
		return nil, err
	}
	es, err := c.Entries(name)
	if err != nil {
		return nil, err
	}
	rep := &ExportReport{Dir: c.Dir(), Name: name}

	// Keep only entries whose objects are all present with the recorded
	// size; the archive must be importable.
	objs := map[cas.ID]int64{}
	var keep []record.Entry
	for _, en := range es {
		if why := c.BrokenEntry(name, en); why != "" {
			rep.Skipped = append(rep.Skipped, "entry "+maintain.ShortHash(en.KeyHash)+": "+why)
			continue
		}
		keep = append(keep, en)
		for id, r := range maintain.ObjectsOf(name, en) {
			objs[id] = r.Size
		}
	}
	ids := maintain.SortedIDs(objs)
	var total int64
	for _, id := range ids {
		total += objs[id]
	}
	tw := tar.NewWriter(w)
	now := time.Now()
	head := archiveHeaderV1{Format: archiveFormat, Version: archiveVersion, Name: name,
		Entries: len(keep), Objects: len(ids), Created: now.UTC().Format(time.RFC3339)}
	for _, id := range ids {
		if c.Objects().StoredCompressed(id) {
			head.Compression = compressionZstd
			break
		}
	}
	hdr, _ := json.Marshal(head)
	if err := writeTarFile(tw, archiveHeader, hdr, now); err != nil {
		return nil, err
	}
	var eb bytes.Buffer
	enc := archiveEncMode.NewEncoder(&eb)
	for _, en := range keep {
		if err := enc.Encode(toArchive(en)); err != nil {
			return nil, fmt.Errorf("encode entry %s: %w", maintain.ShortHash(en.KeyHash), err)
		}
	}
	if err := writeTarFile(tw, archiveEntries, eb.Bytes(), now); err != nil {
		return nil, err
	}
	bar := maintain.StartProgress(p, "exporting", total, true)
	defer bar.Done()
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := copyObject(c, tw, id, objs[id], now, bar)
		if err != nil {
			return nil, c.Damaged(layout.ObjectRel(id), err)
		}
		rep.Objects++
		rep.Bytes += n
	}
	rep.Entries = len(keep)
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write archive: %w", err)
	}
	sort.Strings(rep.Skipped)
	return rep, nil
}

func writeTarFile(tw *tar.Writer, name string, b []byte, mtime time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("write archive: %w", err)
	}
	return nil
}

// copyObject writes object id into the archive through the store's
// verifying reader: the archive never carries bytes that do not match their
// name (a mismatch fails the export). The maintenance store never refreshes
// an object's mtime, so an export is not a use.
func copyObject(c *maintain.Cache, tw *tar.Writer, id cas.ID, size int64, mtime time.Time, bar maintain.Counter) (int64, error) {
	r, err := c.Objects().Open(id)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	if r.Size() != size {
		return 0, fmt.Errorf("%s: %d bytes, entries record %d", layout.ObjectRel(id), r.Size(), size)
	}
	if err := tw.WriteHeader(&tar.Header{Name: layout.ObjectRel(id), Mode: 0o444, Size: size,
		ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
		return 0, err
	}
	n, err := io.Copy(io.MultiWriter(tw, counterWriter{bar}), r)
	if err != nil {
		return n, fmt.Errorf("%s: %w", layout.ObjectRel(id), err)
	}
	return n, nil
}

type counterWriter struct{ c maintain.Counter }

func (w counterWriter) Write(p []byte) (int, error) { w.c.Add(int64(len(p))); return len(p), nil }
