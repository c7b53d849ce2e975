package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
)

// Compaction writes its output before deleting its inputs: a failure in
// between leaves both, and every entry still resolves; the next compaction
// finishes the job.
// Not parallel: it sets the package's testHookBeforeDelete.
func TestCompactFailureBeforeDelete(t *testing.T) {
	root := t.TempDir()
	for j := 0; j < 3; j++ {
		var es []Entry
		for i := 0; i < 10; i++ {
			es = append(es, ent(j*10+i, fmt.Sprint(j)))
		}
		writeJournal(t, root, "f", es...)
	}
	writeSeg(t, root, "f", ent(100, "seg"), ent(0, "older")) // key 0: the journal's record is newer
	m := mustOpen(t, root, "f", Options{})
	js0, ss0 := files(t, m.dir)

	boom := errors.New("injected failure")
	testHookBeforeDelete = func() error {
		js, ss := files(t, m.dir)
		if len(js) != len(js0) || len(ss) != len(ss0)+1 {
			t.Errorf("at the hook: %d journals, %d segments; want all inputs plus the output", len(js), len(ss))
		}
		return boom
	}
	defer func() { testHookBeforeDelete = nil }()
	if err := m.Compact(true); !errors.Is(err, boom) {
		t.Fatalf("Compact: %v, want the injected error", err)
	}
	testHookBeforeDelete = nil

	check := func() {
		t.Helper()
		r := mustOpen(t, root, "f", Options{ReadOnly: true})
		defer r.Close()
		for j := 0; j < 3; j++ {
			for i := 0; i < 10; i++ {
				wantResult(t, r, j*10+i, fmt.Sprint(j))
			}
		}
		wantResult(t, r, 100, "seg")
		if n := len(allEntries(t, r)); n != 31 {
			t.Fatalf("%d entries, want 31", n)
		}
		if ps, err := Check(layout.New(root), "f"); err != nil || len(ps) != 0 {
			t.Fatalf("Check: %v %v", ps, err)
		}
	}
	check()
	if err := m.Compact(true); err != nil {
		t.Fatal(err)
	}
	if js, ss := files(t, m.dir); len(js) != 0 || len(ss) != 1 {
		t.Fatalf("after compaction: %v %v", js, ss)
	}
	check()
	// No lock files are left for the compacted journals.
	if ents, err := os.ReadDir(root + "/locks/journals"); err != nil || len(ents) != 0 {
		t.Fatalf("journal locks left: %v %v", ents, err)
	}
}

// A journal whose writer is alive (another Manifest, in this process: the
// flocks of two instances conflict) is not compacted; once its writer
// closes, it is.
func TestCompactSkipsLiveJournal(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w := mustOpen(t, root, "f", Options{})
	mustAppend(t, w, ent(1, "live"))
	writeJournal(t, root, "f", ent(2, "dead"))
	live := w.w.name

	c := mustOpen(t, root, "f", Options{})
	if err := c.Compact(true); err != nil {
		t.Fatal(err)
	}
	js, ss := files(t, c.dir)
	if len(js) != 1 || js[0] != live || len(ss) != 1 {
		t.Fatalf("after compacting around a live writer: journals %v segments %v", js, ss)
	}
	// The writer keeps appending to its journal, and everyone sees it all.
	mustAppend(t, w, ent(3, "live2"))
	wantResult(t, c, 1, "live")
	wantResult(t, c, 2, "dead")
	wantResult(t, c, 3, "live2")

	w.Close()
	if err := c.Compact(true); err != nil {
		t.Fatal(err)
	}
	if js, ss := files(t, c.dir); len(js) != 0 || len(ss) != 1 {
		t.Fatalf("after the writer closed: journals %v segments %v", js, ss)
	}
	for i, v := range map[int]string{1: "live", 2: "dead", 3: "live2"} {
		wantResult(t, c, i, v)
	}
}

// Rotation after JournalLimit records compacts in the background, and the
// size-tiered policy keeps the segment count logarithmic.
func TestRotationAndTiers(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	m := mustOpen(t, root, "f", Options{JournalLimit: 4})
	const n = 200
	for i := 0; i < n; i++ {
		mustAppend(t, m, ent(i, vname(i)))
	}
	// The tiers as a compaction leaves them while the writer is open (its
	// Close merges them all: see TestCloseMergesAFill).
	if err := m.Compact(false); err != nil {
		t.Fatal(err)
	}
	_, ss := files(t, m.dir)
	// 200 records in size classes of 4^k: at most 3 segments per class.
	classes := make(map[int]int)
	for _, s := range segments(m) {
		classes[sizeClass(s.count)]++
	}
	for k, cnt := range classes {
		if cnt > 3 {
			t.Fatalf("%d segments in size class %d (segments %v)", cnt, k, ss)
		}
	}
	m.Close()
	c := mustOpen(t, root, "f", Options{})
	if err := c.Compact(false); err != nil {
		t.Fatal(err)
	}
	if js, _ := files(t, c.dir); len(js) != 0 {
		t.Fatalf("journals left: %v", js)
	}
	for i := 0; i < n; i++ {
		wantResult(t, c, i, vname(i))
	}
}

// TestCloseMergesAFill: a writer that wrote at least half of a manifest's
// records (a fill) merges every segment into one at Close, so each later
// process opens one segment; a writer that added a few records to a large
// manifest, or filled more than closeMergeRecords, leaves the tiers as
// they are.
func TestCloseMergesAFill(t *testing.T) {
	// fill makes three small segments (another writer's), then writes n
	// records with one writer (one journal) and closes it; it returns the
	// three segments.
	fill := func(root string, n int) []string {
		t.Helper()
		var small []string
		for j := range 3 {
			var es []Entry
			for i := range 10 {
				e := ent(100000+10*j+i, "small")
				e.Time = 1
				es = append(es, e)
			}
			small = append(small, writeSeg(t, root, "f", es...))
		}
		w := mustOpen(t, root, "f", Options{})
		for i := range n {
			mustAppend(t, w, ent(i, vname(i)))
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return small
	}
	root := t.TempDir()
	fill(root, 400) // 400 of 430 records
	r := mustOpen(t, root, "f", Options{ReadOnly: true})
	js, ss := files(t, r.dir)
	if len(js) != 0 || len(ss) != 1 {
		t.Fatalf("after a fill's Close: journals %v segments %v, want one segment", js, ss)
	}
	for i := range 400 {
		wantResult(t, r, i, vname(i))
	}
	wantResult(t, r, 100029, "small")
	r.Close()
	big := ss[0]

	// A small writer: its 64 records are not half of 494.
	w := mustOpen(t, root, "f", Options{})
	for i := 400; i < 464; i++ {
		mustAppend(t, w, ent(i, vname(i)))
	}
	w.Close()
	js, ss = files(t, w.dir)
	if len(js) != 0 || len(ss) != 2 || !slices.Contains(ss, big) {
		t.Fatalf("after a small writer's Close: journals %v segments %v, want %s and one more", js, ss, big)
	}

	// A fill of more than closeMergeRecords keeps the tiers: its journal
	// becomes a segment of its own.
	old := closeMergeRecords
	closeMergeRecords = 300
	t.Cleanup(func() { closeMergeRecords = old })
	root = t.TempDir()
	small := fill(root, 400)
	_, ss = files(t, mustOpen(t, root, "f", Options{ReadOnly: true}).dir)
	if len(ss) != 4 || !slices.Contains(ss, small[0]) || !slices.Contains(ss, small[1]) || !slices.Contains(ss, small[2]) {
		t.Fatalf("after a fill of more than closeMergeRecords: segments %v, want %v and one more", ss, small)
	}
}

// Many dead journals make Open start a compaction by itself.
func TestAutoCompactOnOpen(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for j := 0; j < autoCompactJournals+2; j++ {
		// Not writeJournal: its Open would compact as soon as there are enough.
		rawJournal(t, root, "f", ent(j, vname(j)))
	}
	m := mustOpen(t, root, "f", Options{})
	m.Close() // waits for the background compaction it started
	js, ss := files(t, m.dir)
	if len(js) != 0 || len(ss) != 1 {
		t.Fatalf("after Open: journals %v segments %v", js, ss)
	}
}

// TestOpenCompactsALargeDeadJournal: a journal of closeCompactRecords
// records or more whose writer exited without Close is compacted by the
// next Manifest that opens to write, so the processes after it do not
// read it whole; a smaller one, a live writer's, and any under ReadOnly
// are left as they are.
func TestOpenCompactsALargeDeadJournal(t *testing.T) {
	t.Parallel()
	entries := func(n int) []Entry {
		var es []Entry
		for i := range n {
			es = append(es, ent(i, vname(i)))
		}
		return es
	}
	for _, tc := range []struct {
		name         string
		records      int
		readOnly     bool
		wantJournals int
	}{
		{"large", closeCompactRecords, false, 0},
		{"small", closeCompactRecords - 1, false, 1},
		{"read-only", 2 * closeCompactRecords, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			rawJournal(t, root, "f", entries(tc.records)...)
			m := mustOpen(t, root, "f", Options{ReadOnly: tc.readOnly})
			for i := range tc.records {
				wantResult(t, m, i, vname(i))
			}
			m.Close() // waits for the compaction it started
			if js, _ := files(t, m.dir); len(js) != tc.wantJournals {
				t.Fatalf("journals %v, want %d", js, tc.wantJournals)
			}
			r := mustOpen(t, root, "f", Options{ReadOnly: true})
			defer r.Close()
			for i := range tc.records {
				wantResult(t, r, i, vname(i))
			}
		})
	}
	t.Run("live writer", func(t *testing.T) {
		root := t.TempDir()
		w := mustOpen(t, root, "f", Options{})
		defer w.Close()
		mustAppend(t, w, entries(2*closeCompactRecords)...)
		m := mustOpen(t, root, "f", Options{})
		w.mu.Lock()
		name := w.w.name
		w.mu.Unlock()
		if m.writerGone(name) {
			t.Fatalf("%s: its writer is open, yet its lock was free", name)
		}
		m.Close()
		if js, _ := files(t, m.dir); len(js) != 1 {
			t.Fatalf("journals %v: the live writer's journal must stay", js)
		}
	})
}

// rawJournal writes a dead journal without opening a Manifest.
func rawJournal(t testing.TB, root, name string, es ...Entry) {
	t.Helper()
	dir, _ := manifestDir(layout.New(root), name)
	var buf []byte
	for i := range es {
		if es[i].Time == 0 {
			es[i].Time = 1
		}
		p, err := record.Encode(&es[i])
		if err != nil {
			t.Fatal(err)
		}
		buf = record.AppendFrame(buf, p)
	}
	w, err := createJournal(layout.New(root), dir, name, buf, len(es), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
}

// Compaction retires its inputs (package retire): they stay on disk under
// their names, so a sync copying the directory never sees one vanish, but
// are no inputs and no part of a reader's view; a journal a sync appended
// to meanwhile is an input again; after the grace period a compaction
// deletes them.
func TestCompactRetiresInputs(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	m := compactedJournals(t, root)
	l, err := listDir(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	if js, ss := files(t, m.dir); len(js) != 0 || len(ss) != 1 || len(l.journals) != 3 {
		t.Fatalf("after compaction: live %v %v, on disk %v: want the 3 journals retired, 1 segment", js, ss, l.journals)
	}
	r := mustOpen(t, root, "f", Options{ReadOnly: true})
	if len(segments(r)) != 1 {
		t.Fatalf("a reader's view holds %d segments", len(segments(r)))
	}
	for i := range 30 {
		wantResult(t, r, i, fmt.Sprint(i/10))
	}
	r.Close()

	// Tier merges retire segments too, and a view leaves them out.
	if err := m.Compact(true); err != nil {
		t.Fatal(err)
	}
	w := mustOpen(t, root, "f", Options{})
	mustAppend(t, w, ent(40, "late"))
	w.Close()
	if err := m.Compact(true); err != nil {
		t.Fatal(err)
	}
	l, _ = listDir(m.dir)
	if js, ss := files(t, m.dir); len(js) != 0 || len(ss) != 1 || len(l.segments) != 2 {
		t.Fatalf("after a second compaction: live %v %v, on disk %v", js, ss, l.segments)
	}
	if len(segments(m)) != 1 {
		t.Fatalf("the view holds %d segments, want the live one", len(segments(m)))
	}

	// A sync appends a record to a retired journal: it is an input again.
	jpath := filepath.Join(m.dir, l.journals[0])
	extra := readJournalRecord(t, root, ent(50, "appended"))
	f, err := os.OpenFile(jpath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(extra)
	f.Close()
	if js, _ := files(t, m.dir); len(js) != 1 {
		t.Fatalf("a journal appended to after it was retired: live journals %v, want it", js)
	}
	if err := m.Compact(true); err != nil {
		t.Fatal(err)
	}
	wantResult(t, m, 50, "appended")

	// After the grace period the retired files go.
	g := mustOpen(t, root, "f", Options{RetireGrace: time.Nanosecond})
	if err := g.Compact(true); err != nil {
		t.Fatal(err)
	}
	l, _ = listDir(m.dir)
	if len(l.journals) != 0 || len(l.segments) != 1 {
		t.Fatalf("after the grace period: %v %v", l.journals, l.segments)
	}
	for i := range 30 {
		wantResult(t, g, i, fmt.Sprint(i/10))
	}
	wantResult(t, g, 40, "late")
	wantResult(t, g, 50, "appended")
}

// compactedJournals writes three journals of 10 entries each (keys 0-29,
// key i holding result i/10) in root's function "f", compacts them, and
// returns the Manifest that did: the journals are retired, the output is
// one segment.
func compactedJournals(t *testing.T, root string) *Manifest {
	t.Helper()
	for j := range 3 {
		w := mustOpen(t, root, "f", Options{})
		for i := range 10 {
			mustAppend(t, w, ent(j*10+i, fmt.Sprint(j)))
		}
		w.Close()
	}
	m := mustOpen(t, root, "f", Options{})
	if err := m.Compact(true); err != nil {
		t.Fatal(err)
	}
	return m
}

// readJournalRecord returns the framed bytes one Append of e adds to a
// journal: what a sync appends to a copy of it.
func readJournalRecord(t *testing.T, _ string, e Entry) []byte {
	t.Helper()
	root := t.TempDir()
	m := mustOpen(t, root, "f", Options{})
	mustAppend(t, m, ent(99, "first"))
	js, _ := files(t, m.dir)
	p := filepath.Join(m.dir, js[0])
	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, m, e)
	after, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	return after[len(before):]
}

// A running writer whose journal is replaced under it by an older copy
// (what plain rsync -a or cp does to a grown file) moves every record it
// wrote into a new journal at its next write: nothing is lost, and nothing
// goes on to an unlinked file.
func TestWriterSurvivesReplacedJournal(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w := mustOpen(t, root, "f", Options{})
	for i := range 5 {
		mustAppend(t, w, ent(i, "early"))
	}
	js, _ := files(t, w.dir)
	path := filepath.Join(w.dir, js[0])
	older, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 10; i++ {
		mustAppend(t, w, ent(i, "late"))
	}
	// The copy: a temp file renamed over the journal, as rsync does.
	tmp := filepath.Join(t.TempDir(), "copy")
	if err := os.WriteFile(tmp, older, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, w, ent(10, "after"))
	mustAppend(t, w, ent(11, "after"))
	r := mustOpen(t, root, "f", Options{ReadOnly: true})
	for i := range 12 {
		v := "after"
		switch {
		case i < 5:
			v = "early"
		case i < 10:
			v = "late"
		}
		wantResult(t, r, i, v)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := mustOpen(t, root, "f", Options{}).Compact(true); err != nil {
		t.Fatal(err)
	}
	if n := len(allEntries(t, mustOpen(t, root, "f", Options{ReadOnly: true}))); n != 12 {
		t.Fatalf("%d entries after compaction, want 12", n)
	}
}

// TestCompactReadsWhatTheJournalHoldsNow: a compaction starts from what the
// compacting Manifest's view read of a dead journal, and must still merge
// what the file holds by then: records an rsync --append added, or another
// file an rsync put in its place (whose records replace the ones read).
func TestCompactReadsWhatTheJournalHoldsNow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		change       func(t *testing.T, path string)
		want, absent []int
	}{
		{"unchanged", func(*testing.T, string) {}, []int{1, 2}, nil},
		{"grown", func(t *testing.T, path string) { appendRecord(t, path, ent(3, "c")) }, []int{1, 2, 3}, nil},
		{"replaced", func(t *testing.T, path string) {
			other := t.TempDir()
			writeJournal(t, other, "f", ent(4, "d"))
			js, _ := files(t, filepath.Join(other, layout.ManifestsDir, "f"))
			if len(js) != 1 {
				t.Fatalf("other cache: journals %v", js)
			}
			b, err := os.ReadFile(filepath.Join(other, layout.ManifestsDir, "f", js[0]))
			if err != nil {
				t.Fatal(err)
			}
			tmp := path + ".new"
			if err := os.WriteFile(tmp, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, []int{4}, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			writeJournal(t, root, "f", ent(1, "a"), ent(2, "b"))
			c := mustOpen(t, root, "f", Options{})
			wantResult(t, c, 1, "a") // the view has read the journal
			js, _ := files(t, c.dir)
			if len(js) != 1 {
				t.Fatalf("journals %v", js)
			}
			tc.change(t, filepath.Join(c.dir, js[0]))
			if err := c.Compact(true); err != nil {
				t.Fatal(err)
			}
			if js, ss := files(t, c.dir); len(js) != 0 || len(ss) != 1 {
				t.Fatalf("after compaction: journals %v segments %v", js, ss)
			}
			fresh := mustOpen(t, root, "f", Options{})
			for _, i := range tc.want {
				wantResult(t, fresh, i, map[int]string{1: "a", 2: "b", 3: "c", 4: "d"}[i])
			}
			for _, i := range tc.absent {
				wantAbsent(t, fresh, i)
			}
		})
	}
}
