package manifest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
)

// futureJournal writes a journal whose header says format version 2.
func futureJournal(t *testing.T, root, name string) string {
	t.Helper()
	dir, _ := manifestDir(layout.New(root), name)
	os.MkdirAll(dir, 0o755)
	hdr, err := futureHeader(record.JournalFormat, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := ent(1, "future")
	e.Time = 1
	p, _ := record.Encode(&e)
	path := filepath.Join(dir, "j-future.pcj")
	if err := os.WriteFile(path, record.AppendFrame(hdr, p), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnknownVersion(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeJournal(t, root, "f", ent(2, "now"))
	path := futureJournal(t, root, "f")

	if _, err := Open(layout.New(root), "f", Options{}); !errors.Is(err, record.ErrUnknownVersion) {
		t.Fatalf("Open: %v, want record.ErrUnknownVersion", err)
	}
	ps, err := Check(layout.New(root), "f")
	if err != nil || len(ps) != 1 || ps[0].Kind != KindUnknownVersion || ps[0].Path != path {
		t.Fatalf("Check: %v %v", ps, err)
	}
	// Neither compaction nor repair touches a file they cannot read.
	c := &compaction{d: layout.New(root), name: "f", lockName: "f", dir: filepath.Dir(path), report: func(Problem) {}, logf: t.Logf}
	if err := c.run(true, true); err != nil {
		t.Fatal(err)
	}
	if err := Repair(layout.New(root), "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("future journal removed: %v", err)
	}

	// A segment with an unknown version is refused the same way.
	root2 := t.TempDir()
	name := writeSeg(t, root2, "f", ent(1, "x"))
	segPath := filepath.Join(root2, "manifests", "f", name)
	data, _ := os.ReadFile(segPath)
	// Rewrite the header's version (after the text "version") to the next.
	i := indexOf(data, []byte("version"))
	if i < 0 || data[i+7] != record.Version {
		t.Fatal("cannot find the version in the header")
	}
	data[i+7] = record.MaxVersion + 1
	// Left under its old name, it is a damaged segment (its content no longer
	// hashes to its name): skipped and reported, never a reason to refuse
	// the whole manifest.
	os.WriteFile(segPath, data, 0o644)
	if m, err := Open(layout.New(root2), "f", Options{}); err != nil {
		t.Fatalf("Open with a segment whose version byte was damaged: %v", err)
	} else {
		m.Close()
	}
	ps, _ = Check(layout.New(root2), "f")
	if !hasKind(ps, KindBadSegment) || !hasKind(ps, KindHashMismatch) {
		t.Fatalf("Check damaged segment: %v", ps)
	}
	// Under the name its content hashes to, it is a newer pcache's segment.
	sum := blake3.Sum256(data)
	future := filepath.Join(filepath.Dir(segPath), layout.SegmentName(sum[:]))
	if err := os.Rename(segPath, future); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(layout.New(root2), "f", Options{}); !errors.Is(err, record.ErrUnknownVersion) {
		t.Fatalf("Open with a future segment: %v", err)
	}
	ps, _ = Check(layout.New(root2), "f")
	if !hasKind(ps, KindUnknownVersion) || hasKind(ps, KindHashMismatch) {
		t.Fatalf("Check future segment: %v", ps)
	}
}

func indexOf(b, sub []byte) int {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return i
		}
	}
	return -1
}

func hasKind(ps []Problem, kind string) bool {
	for _, p := range ps {
		if p.Kind == kind {
			return true
		}
	}
	return false
}

func TestCheckAndRepair(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	// A good segment, a segment with a damaged record and a wrong name, a
	// journal with a flipped byte and a torn tail, a non-canonical record,
	// and a stray file.
	writeSeg(t, root, "f", ent(0, "a"), ent(1, "b"))
	bad := writeSeg(t, root, "f", ent(2, "c"), ent(3, "d"), ent(4, "e"))
	dir := filepath.Join(root, "manifests", "f")
	badPath := filepath.Join(dir, bad)
	data, _ := os.ReadFile(badPath)
	s := &segment{path: badPath, data: data}
	if err := s.validate(int64(len(data))); err != nil {
		t.Fatal(err)
	}
	k, off, _ := s.entry(1)
	damaged := 2
	for kh(damaged) != [32]byte(k) {
		damaged++
	}
	data[off+10] ^= 0xff // inside the payload of the second record (in key order)
	os.WriteFile(badPath, data, 0o644)

	path, offs := oneJournal(t, root, 3) // keys 0..2 → v-names: newer than the segments
	jdata, _ := os.ReadFile(path)
	jdata[offs[1]+8] ^= 0xff
	jdata = jdata[:len(jdata)-2] // tear the last record
	nc := ent(9, "nc")
	nc.Time = 5
	p, _ := record.Encode(&nc)
	// Non-canonical: the frame's byte-string length in a 2-byte form.
	frame := append([]byte{0x82, 0x59, 0, byte(len(p))}, p...)
	frame = record.AppendHead(frame, record.MajorUint, uint64(crc32c(p)))
	ncJournal := filepath.Join(dir, "j-noncanonical.pcj")
	hdr, _ := record.EncodeHeader(record.JournalFormat, record.Version, "f", nil)
	os.WriteFile(ncJournal, append(hdr, frame...), 0o644)
	os.WriteFile(path, jdata, 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hi"), 0o644)
	os.MkdirAll(filepath.Join(dir, "nested"), 0o755) // a sub-function's dir: not a problem

	ps, err := Check(layout.New(root), "f")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, p := range ps {
		kinds[p.Kind]++
	}
	want := map[string]int{KindHashMismatch: 1, KindBadChecksum: 2, KindTornTail: 1, KindNonCanonical: 1, KindStray: 1}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("Check kinds %v, want %v\n%v", kinds, want, ps)
	}

	// What readers see before repair.
	m := mustOpen(t, root, "f", Options{})
	before := allEntries(t, m)
	m.Close()

	if err := Repair(layout.New(root), "f"); err != nil {
		t.Fatal(err)
	}
	ps, err = Check(layout.New(root), "f")
	if err != nil || len(ps) != 1 || ps[0].Kind != KindStray {
		t.Fatalf("Check after Repair: %v %v", ps, err)
	}
	m = mustOpen(t, root, "f", Options{})
	after := allEntries(t, m)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("Repair changed the entries:\nbefore %v\nafter  %v", before, after)
	}
	wantResult(t, m, 9, "nc")
	wantResult(t, m, 0, vname(0)) // the journal's record is newer than the segment's
	wantResult(t, m, 1, "b")      // the journal's record was damaged; the segment's remains
	for i, v := range map[int]string{2: "c", 3: "d", 4: "e"} {
		if i == damaged { // its only record was damaged (key 2's journal record was torn off)
			wantAbsent(t, m, i)
		} else {
			wantResult(t, m, i, v)
		}
	}
}

func TestCheckMissing(t *testing.T) {
	t.Parallel()
	if _, err := Check(layout.New(t.TempDir()), "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Check of a missing manifest: %v", err)
	}
}

func TestListAndForgetAll(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if names, err := List(layout.New(root)); err != nil || len(names) != 0 {
		t.Fatalf("List of an empty root: %v %v", names, err)
	}
	for _, n := range []string{"a", "a/b", "a/b/c", "z/y"} {
		writeJournal(t, root, n, ent(1, n))
	}
	writeSeg(t, root, "a/b", ent(2, "seg"))
	os.MkdirAll(filepath.Join(root, "manifests", "empty", "dir"), 0o755)
	os.MkdirAll(filepath.Join(root, "manifests", "x"), 0o755)
	os.WriteFile(filepath.Join(root, "manifests", "x", "stray.txt"), nil, 0o644)
	names, err := List(layout.New(root))
	if err != nil || !reflect.DeepEqual(names, []string{"a", "a/b", "a/b/c", "z/y"}) {
		t.Fatalf("List = %v %v", names, err)
	}
	w := mustOpen(t, root, "a/b", Options{})
	if err := w.ForgetAll(); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, w, 1)
	wantAbsent(t, w, 2)
	// Another reader, and one after compaction, see the same; a record
	// written after the forget lives.
	m := mustOpen(t, root, "a/b", Options{})
	wantAbsent(t, m, 1)
	wantAbsent(t, m, 2)
	mustAppend(t, w, ent(3, "after"))
	if err := w.Compact(true); err != nil {
		t.Fatal(err)
	}
	m2 := mustOpen(t, root, "a/b", Options{})
	wantAbsent(t, m2, 1)
	wantResult(t, m2, 3, "after")
	n := 0
	if err := m2.Iterate(func(Entry) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("Iterate after ForgetAll: %d entries, %v; want 1", n, err)
	}
	m3 := mustOpen(t, root, "a/b/c", Options{})
	wantResult(t, m3, 1, "a/b/c")
}

// TestDamagedHeaderFields: header fields no checksum covers. A version of 0
// (no pcache wrote one) is a bad header, not a newer format, so the rest of
// the manifest stays usable; a journal or segment whose header names another
// function (damage, or a file moved between functions, whose keys would
// answer the other function's calls) is reported by Check.
func TestDamagedHeaderFields(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeJournal(t, root, "f", ent(1, "one"))
	writeSeg(t, root, "f", ent(2, "two"))
	dir, _ := manifestDir(layout.New(root), "f")
	l, err := listDir(dir)
	if err != nil || len(l.journals) != 1 || len(l.segments) != 1 {
		t.Fatalf("listDir: %+v %v", l, err)
	}
	jPath, sPath := filepath.Join(dir, l.journals[0]), filepath.Join(dir, l.segments[0])

	// Rename the function in both headers ("f" → "g", same length).
	for _, p := range []string{jPath, sPath} {
		data, _ := os.ReadFile(p)
		i := indexOf(data, []byte("name\x61f"))
		if i < 0 {
			t.Fatalf("%s: cannot find the name in the header", p)
		}
		data[i+5] = 'g'
		os.WriteFile(p, data, 0o644)
	}
	ps, err := Check(layout.New(root), "f")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, p := range ps {
		if p.Kind == KindBadHeader {
			named[p.Path] = true
		}
	}
	if !named[jPath] {
		t.Fatalf("Check does not report the journal naming another function: %v", ps)
	}
	if !hasKind(ps, KindHashMismatch) {
		t.Fatalf("Check does not report the renamed segment: %v", ps)
	}

	// Version 0 in the journal: bad header; the segment still serves.
	data, _ := os.ReadFile(jPath)
	i := indexOf(data, []byte("version"))
	if i < 0 || data[i+7] != record.Version {
		t.Fatal("cannot find the version in the header")
	}
	data[i+7] = 0x00
	os.WriteFile(jPath, data, 0o644)
	os.Remove(sPath)
	writeSeg(t, root, "f", ent(2, "two"))
	m, err := Open(layout.New(root), "f", Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open with a journal whose version is 0: %v", err)
	}
	defer m.Close()
	if _, ok, err := m.Lookup(kh(2)); !ok || err != nil {
		t.Fatalf("the good segment's entry: %v %v", ok, err)
	}
	ps, _ = Check(layout.New(root), "f")
	if !hasKind(ps, KindBadHeader) || hasKind(ps, KindUnknownVersion) {
		t.Fatalf("Check with version 0: %v", ps)
	}
}

// TestNegativeSizeIsABadRecord: a record (well framed, checksum right) whose
// result or out-file size is negative is refused by the decoder, so a hostile
// record cannot turn a lookup of its key into a permanent error.
func TestNegativeSizeIsABadRecord(t *testing.T) {
	t.Parallel()
	for _, mut := range []func(*Entry){
		func(e *Entry) { e.Size = -6 },
		func(e *Entry) { e.Outs = []OutFile{{Arg: "Out", Object: e.Result, Size: -1}} },
	} {
		e := ent(1, "x")
		mut(&e)
		b, err := record.Encode(&e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeEntry(b); !errors.Is(err, record.ErrBad) {
			t.Errorf("DecodeEntry of %+v: %v, want record.ErrBad", e, err)
		}
	}
}
