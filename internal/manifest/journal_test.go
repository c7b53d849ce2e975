package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
)

// oneJournal writes n entries (key i → "v<i>") into one journal of "f" and
// returns the journal's path and the offsets where its records start (plus
// the file size at the end).
func oneJournal(t *testing.T, root string, n int) (string, []int64) {
	t.Helper()
	var es []Entry
	for i := 0; i < n; i++ {
		es = append(es, ent(i, vname(i)))
	}
	writeJournal(t, root, "f", es...)
	js, _ := files(t, filepath.Join(root, "manifests", "f"))
	if len(js) != 1 {
		t.Fatalf("journals: %v", js)
	}
	path := filepath.Join(root, "manifests", "f", js[0])
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, off, err := record.ParseHeader(data, record.JournalFormat)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off < len(data) {
		offs = append(offs, int64(off))
		f, err := record.ParseFrame(data[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += f.N
	}
	return path, append(offs, int64(len(data)))
}

func vname(i int) string { return "v" + string(rune('a'+i%26)) + string(rune('0'+i/26)) }

// readAll opens "f" in root and checks keys [0,n): those in want present
// with their own result, the rest absent.
func readAll(t *testing.T, root string, n int, want func(i int) bool) *Manifest {
	t.Helper()
	m := mustOpen(t, root, "f", Options{})
	for i := 0; i < n; i++ {
		if want(i) {
			wantResult(t, m, i, vname(i))
		} else {
			wantAbsent(t, m, i)
		}
	}
	return m
}

func TestTornTail(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	const n = 5
	path, offs := oneJournal(t, src, n)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	last := offs[n-1]
	for cut := last; cut < int64(len(data)); cut++ {
		root := t.TempDir()
		dir := filepath.Join(root, "manifests", "f")
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		m := readAll(t, root, n, func(i int) bool { return i < n-1 })
		m.Close()
		ps, err := Check(layout.New(root), "f")
		if err != nil {
			t.Fatal(err)
		}
		if cut == last && len(ps) != 0 || cut > last && (len(ps) != 1 || ps[0].Kind != KindTornTail || ps[0].Offset != last) {
			t.Fatalf("cut at %d: Check = %v", cut, ps)
		}
	}
}

func TestFlippedByte(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	const n = 5
	path, offs := oneJournal(t, src, n)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const victim = 2
	// The frame is [payload, crc]: array head, byte-string head, payload,
	// then the crc's uint head and value.
	f, _ := record.ParseFrame(data[offs[victim]:])
	headLen := int64(1 + len(record.AppendHead(nil, record.MajorBytes, uint64(len(f.Payload)))))
	crcHead := offs[victim] + headLen + int64(len(f.Payload))
	for pos := offs[victim]; pos < offs[victim+1]; pos++ {
		root := t.TempDir()
		dir := filepath.Join(root, "manifests", "f")
		os.MkdirAll(dir, 0o755)
		bad := append([]byte(nil), data...)
		bad[pos] ^= 0x20
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), bad, 0o644); err != nil {
			t.Fatal(err)
		}
		// A flip anywhere in the record never yields a wrong entry: each key
		// is either absent or has its own result. A flip inside the payload
		// or checksum (the frame stays intact) loses only that record.
		m := mustOpen(t, root, "f", Options{})
		lost := 0
		for i := 0; i < n; i++ {
			e, ok := lookup(t, m, i)
			if !ok {
				lost++
				continue
			}
			if e.Result != ent(i, vname(i)).Result {
				t.Fatalf("flip at %d: key %d has a wrong result", pos, i)
			}
		}
		if _, ok := lookup(t, m, victim); ok {
			t.Fatalf("flip at %d: damaged record %d was read", pos, victim)
		}
		framing := pos < offs[victim]+headLen || pos == crcHead
		if !framing && lost != 1 {
			t.Fatalf("flip at %d (payload or checksum): lost %d records, want 1", pos, lost)
		}
		if len(m.problems.list()) == 0 {
			t.Fatalf("flip at %d: no problem reported", pos)
		}
		m.Close()
		ps, err := Check(layout.New(root), "f")
		if err != nil || len(ps) == 0 {
			t.Fatalf("flip at %d: Check = %v, %v", pos, ps, err)
		}
		if !framing && ps[0].Kind != KindBadChecksum {
			t.Fatalf("flip at %d: Check = %v, want bad-checksum", pos, ps)
		}
	}
}

// A reader that sees a record half-written (the writer's write in
// progress) reads it once it is complete.
func TestTailReadAfterPartialWrite(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w := mustOpen(t, root, "f", Options{})
	mustAppend(t, w, ent(0, vname(0)))
	r := mustOpen(t, root, "f", Options{})
	wantResult(t, r, 0, vname(0))

	// Append one record by hand in two halves.
	p, _ := record.Encode(ptr(ent(1, vname(1))))
	frame := record.AppendFrame(nil, p)
	f, err := os.OpenFile(w.w.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(frame[:len(frame)/2])
	wantAbsent(t, r, 1)
	f.Write(frame[len(frame)/2:])
	wantResult(t, r, 1, vname(1))
	if ps := r.problems.list(); len(ps) != 0 {
		t.Fatalf("problems: %v", ps)
	}
}

// TestJStateClone: a clone shares its journal's records with the original
// until one of them reads more, and then neither sees the other's reading.
func TestJStateClone(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeJournal(t, root, "f", ent(1, "a"), ent(2, "b"))
	dir := filepath.Join(root, layout.ManifestsDir, "f")
	js, _ := files(t, dir)
	if len(js) != 1 {
		t.Fatalf("journals %v", js)
	}
	grow := func(i int) { appendRecord(t, filepath.Join(dir, js[0]), ent(i, "x")) }
	read := func(st *jstate) {
		t.Helper()
		if _, _, err := st.readTail(func(p Problem) { t.Errorf("problem: %v", p) }); err != nil {
			t.Fatal(err)
		}
	}
	same := func(a, b *jstate) bool {
		return reflect.ValueOf(a.recs).UnsafePointer() == reflect.ValueOf(b.recs).UnsafePointer()
	}
	st := newJState(dir, js[0])
	read(st)
	c := st.clone()
	if !same(st, c) || len(c.recs) != 2 {
		t.Fatalf("a clone copied the records up front, or lost them: %d", len(c.recs))
	}
	read(c) // nothing new: still shared
	if !same(st, c) {
		t.Error("a read that found nothing new copied the records")
	}
	grow(3)
	read(c)
	if len(c.recs) != 3 || len(st.recs) != 2 {
		t.Fatalf("after the clone read record 3: clone %d records, original %d; want 3 and 2", len(c.recs), len(st.recs))
	}
	grow(4)
	read(st)
	if len(st.recs) != 4 || len(c.recs) != 3 {
		t.Fatalf("after the original read records 3 and 4: original %d records, clone %d; want 4 and 3", len(st.recs), len(c.recs))
	}
}
