package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/manifest"
	"github.com/zeebo/blake3"
)

func init() {
	commands = append(commands, &command{
		name:    "export",
		summary: "write one function's entries and objects to a tar file",
		usage: `Usage: pcache-fsck export NAME FILE [-dir DIR] [-json]

Export writes a self-contained tar of function NAME: a small header
(pcache-export.json: format, version, name, counts), the live entries as a
CBOR sequence (entries.cbor), and every object they reference, named
objects/ab/cdef… as in the store. Objects are verified as they are read; an
entry whose objects are missing or corrupt is left out with a warning. FILE
is written atomically (temp file, then rename); "-" writes to stdout.

Examples:
  pcache-fsck export my/project/embed embed.tar
  pcache-fsck export my/project/embed - | ssh host pcache-fsck import - 
  tar tf embed.tar | head
`,
		run: runExportCmd,
	})
}

type exportReport struct {
	Dir     string   `json:"dir"`
	Name    string   `json:"name"`
	File    string   `json:"file"`
	Entries int      `json:"entries"`
	Objects int      `json:"objects"`
	Bytes   int64    `json:"bytes"`
	Skipped []string `json:"skipped,omitempty"` // entries left out, with why
}

func runExportCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) != 2 {
		return usagef("export takes a function NAME and an output FILE")
	}
	rep, err := exportFunc(e, args[0], args[1])
	if err != nil {
		return err
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(e.stderr, "pcache-fsck export: warning: skipped %s\n", s)
	}
	out := e.stdout
	if args[1] == "-" {
		out = e.stderr // the archive owns stdout
	}
	if e.json {
		return writeJSON(out, rep)
	}
	fmt.Fprintf(out, "export: wrote %s and %s (%s) of %s to %s\n",
		plural(rep.Entries, "entry", "entries"), plural(rep.Objects, "object", "objects"),
		humanBytes(rep.Bytes), rep.Name, rep.File)
	return nil
}

func exportFunc(e *env, name, file string) (*exportReport, error) {
	dir := e.dir
	store, err := openFuncStore(dir, name)
	if err != nil {
		return nil, err
	}
	es, err := loadFunc(dir, name)
	if err != nil {
		return nil, err
	}
	rep := &exportReport{Dir: dir, Name: name, File: file}

	// Keep only entries whose objects are all present with the recorded
	// size; the archive must be importable.
	objs := map[cas.ID]int64{}
	var keep []manifest.Entry
	for _, en := range es {
		if why := brokenEntry(store, name, en); why != "" {
			rep.Skipped = append(rep.Skipped, "entry "+shortHash(en.KeyHash)+": "+why)
			continue
		}
		keep = append(keep, en)
		for id, r := range objectsOf(name, en) {
			objs[id] = r.Size
		}
	}
	ids := sortedIDs(objs)
	var total int64
	for _, id := range ids {
		total += objs[id]
	}

	var w io.Writer
	var tmp *os.File
	if file == "-" {
		w = e.stdout
	} else {
		tmp, err = fsutil.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".", 0o644)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w = tmp
	}
	tw := tar.NewWriter(w)
	now := time.Now()
	hdr, _ := json.Marshal(archiveHeaderV1{Format: archiveFormat, Version: archiveVersion, Name: name,
		Entries: len(keep), Objects: len(ids), Created: now.UTC().Format(time.RFC3339)})
	if err := writeTarFile(tw, archiveHeader, hdr, now); err != nil {
		return nil, err
	}
	var eb bytes.Buffer
	enc := archiveEncMode.NewEncoder(&eb)
	for _, en := range keep {
		if err := enc.Encode(toArchive(en)); err != nil {
			return nil, fmt.Errorf("export: encode entry %s: %w", shortHash(en.KeyHash), err)
		}
	}
	if err := writeTarFile(tw, archiveEntries, eb.Bytes(), now); err != nil {
		return nil, err
	}
	bar := newCounter(e.stderr, "exporting", total, true)
	buf := make([]byte, 1<<20)
	for _, id := range ids {
		if err := e.ctx.Err(); err != nil {
			return nil, err
		}
		n, err := copyObject(tw, store, id, buf, bar)
		if err != nil {
			return nil, fmt.Errorf("export: %w (run pcache-fsck check -repair -dir %s)", err, shellQuote(dir))
		}
		rep.Objects++
		rep.Bytes += n
	}
	bar.Done()
	rep.Entries = len(keep)
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if tmp != nil {
		if err := fsutil.Commit(tmp, file, true); err != nil {
			tmp = nil // Commit removed it
			return nil, fmt.Errorf("export: %w", err)
		}
		tmp = nil
	}
	sort.Strings(rep.Skipped)
	return rep, nil
}

func writeTarFile(tw *tar.Writer, name string, b []byte, mtime time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// copyObject writes object id into the archive, hashing it on the way: the
// archive never carries bytes that do not match their name. It reads the
// file directly (not through the store's Reader) so an export does not count
// as a use of the object.
func copyObject(tw *tar.Writer, store *cas.Store, id cas.ID, buf []byte, c counter) (int64, error) {
	f, err := os.Open(store.Path(id))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !info.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: not a regular file", objectRel(id))
	}
	if err := tw.WriteHeader(&tar.Header{Name: objectRel(id), Mode: 0o444, Size: info.Size(),
		ModTime: info.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return 0, err
	}
	h := blake3.New()
	n, err := io.CopyBuffer(io.MultiWriter(tw, h, counterWriter{c}), io.LimitReader(onlyReader{f}, info.Size()), buf)
	if err != nil {
		return n, fmt.Errorf("%s: %w", objectRel(id), err)
	}
	if n != info.Size() {
		return n, fmt.Errorf("%s: shrank while being read", objectRel(id))
	}
	var got cas.ID
	copy(got[:], h.Sum(nil))
	if got != id {
		return n, fmt.Errorf("%s: hash mismatch: content hashes to %s", objectRel(id), got)
	}
	return n, nil
}

// onlyReader hides *os.File's WriterTo so io.CopyBuffer uses our buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type counterWriter struct{ c counter }

func (w counterWriter) Write(p []byte) (int, error) { w.c.Add(int64(len(p))); return len(p), nil }
