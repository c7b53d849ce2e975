package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestFreshViewSkipsRetiredFiles: a process that opens a manifest after a
// fill reads neither the journals a compaction retired nor the segments a
// merge retired (their records are in the output), so its first lookup
// does not wait for thousands of records to be read again; a retired
// journal that a sync appended to since is read like any other.
func TestFreshViewSkipsRetiredFiles(t *testing.T) {
	root := t.TempDir()
	m := compactedJournals(t, root)
	m.Close()
	l, err := listDir(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.journals) != 3 {
		t.Fatalf("on disk: %v, want the 3 retired journals", l.journals)
	}

	r := mustOpen(t, root, "f", Options{ReadOnly: true})
	if trackedJournals(r) != 0 || len(segments(r)) != 1 {
		t.Fatalf("a fresh view reads %d journals and %d segments, want 0 and the compaction's output", trackedJournals(r), len(segments(r)))
	}
	for i := range 30 {
		wantResult(t, r, i, fmt.Sprint(i/10))
	}
	r.Close()

	// A sync appends to a retired journal: a fresh view reads it.
	f, err := os.OpenFile(filepath.Join(m.dir, l.journals[1]), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(readJournalRecord(t, root, ent(50, "appended"))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r = mustOpen(t, root, "f", Options{ReadOnly: true})
	defer r.Close()
	if trackedJournals(r) != 1 {
		t.Fatalf("a fresh view reads %d journals, want the one appended to", trackedJournals(r))
	}
	wantResult(t, r, 50, "appended")
	wantResult(t, r, 5, "0")

	// A view that takes the summary's word checks no journal, and reads
	// the one appended to at its first refresh.
	tr := mustOpen(t, root, "f", Options{ReadOnly: true, TrustSummary: true, FullRefresh: time.Nanosecond})
	defer tr.Close()
	if trackedJournals(tr) != 0 {
		t.Fatalf("a view trusting the summary reads %d journals, want none", trackedJournals(tr))
	}
	wantResult(t, tr, 5, "0")
	if err := tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	if trackedJournals(tr) != 1 {
		t.Fatalf("after a refresh, a view trusting the summary reads %d journals, want the one appended to", trackedJournals(tr))
	}
	wantResult(t, tr, 50, "appended")
}

// TestFreshViewReadsOneSummary: a fresh view learns which journals a
// compaction retired from the directory's summary (one read, and one lstat
// per journal), not from each journal's retirement record; a directory
// without a summary (compacted by a release before them) is read as before,
// record by record, with the same result. Not parallel: it sets
// testHookRetireLookup.
func TestFreshViewReadsOneSummary(t *testing.T) {
	root := t.TempDir()
	m := compactedJournals(t, root)
	m.Close()
	var lookups atomic.Int64
	testHookRetireLookup = func() { lookups.Add(1) }
	defer func() { testHookRetireLookup = nil }()

	r := mustOpen(t, root, "f", Options{ReadOnly: true})
	if n := lookups.Load(); n != 0 || trackedJournals(r) != 0 {
		t.Fatalf("a fresh view read %d retirement records and %d journals, want none (the summary says)", n, trackedJournals(r))
	}
	for i := range 30 {
		wantResult(t, r, i, fmt.Sprint(i/10))
	}
	r.Close()

	if err := os.Remove(m.d.RetiredSummary(m.d.Rel(m.dir))); err != nil {
		t.Fatal(err)
	}
	r = mustOpen(t, root, "f", Options{ReadOnly: true})
	defer r.Close()
	if n := lookups.Load(); n != 3 || trackedJournals(r) != 0 {
		t.Fatalf("without a summary a fresh view read %d retirement records and %d journals, want the 3 records and no journal", n, trackedJournals(r))
	}
	for i := range 30 {
		wantResult(t, r, i, fmt.Sprint(i/10))
	}
}

// TestCloseCompactsItsJournal: a writer that closes a journal of
// closeCompactRecords records or more compacts it, so the next process's
// fresh view reads no journal; a smaller one is left for a later
// compaction, and read.
func TestCloseCompactsItsJournal(t *testing.T) {
	t.Parallel()
	for _, n := range []int{closeCompactRecords - 1, closeCompactRecords} {
		root := t.TempDir()
		w := mustOpen(t, root, "f", Options{})
		for i := range n {
			mustAppend(t, w, ent(i, "v"))
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r := mustOpen(t, root, "f", Options{ReadOnly: true})
		want := 0
		if n < closeCompactRecords {
			want = 1
		}
		if got := trackedJournals(r); got != want {
			t.Errorf("%d records: a fresh view reads %d journals, want %d", n, got, want)
		}
		for i := range n {
			wantResult(t, r, i, "v")
		}
	}
}
