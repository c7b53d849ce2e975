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
	appendRecord(t, filepath.Join(m.dir, l.journals[1]), ent(50, "appended"))
	r = mustOpen(t, root, "f", Options{ReadOnly: true})
	defer r.Close()
	if trackedJournals(r) != 1 {
		t.Fatalf("a fresh view reads %d journals, want the one appended to", trackedJournals(r))
	}
	wantResult(t, r, 50, "appended")
	wantResult(t, r, 5, "0")
}

// appendRecord appends a record of e (readJournalRecord) to the journal
// file at path, as a sync bringing a longer copy of it would.
func appendRecord(t *testing.T, path string, e Entry) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(readJournalRecord(t, "", e)); err != nil {
		t.Fatal(err)
	}
}

// TestTrustSummary: a view with Options.TrustSummary takes the retirement
// summary's word for the retired journals in its first view and within
// FullRefresh of the last refresh that checked them, and checks them (so
// reads a journal a sync appended to) otherwise.
func TestTrustSummary(t *testing.T) {
	tests := []struct {
		name        string
		fullRefresh time.Duration
		readLater   bool // a journal appended to after a check is read by the next refresh
	}{
		{"checked within an hour", time.Hour, false},
		{"checked at every refresh", time.Nanosecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			m := compactedJournals(t, root)
			m.Close()
			l, err := listDir(m.dir)
			if err != nil || len(l.journals) != 3 {
				t.Fatalf("on disk: %v, %v; want the 3 retired journals", l.journals, err)
			}
			appendRecord(t, filepath.Join(m.dir, l.journals[0]), ent(50, "appended"))

			r := mustOpen(t, root, "f", Options{ReadOnly: true, TrustSummary: true, FullRefresh: tt.fullRefresh})
			defer r.Close()
			if trackedJournals(r) != 0 {
				t.Fatalf("a first view trusting the summary reads %d journals, want none", trackedJournals(r))
			}
			if err := r.Refresh(); err != nil { // the first refresh checks
				t.Fatal(err)
			}
			if trackedJournals(r) != 1 {
				t.Fatalf("after a refresh: %d journals read, want the one appended to", trackedJournals(r))
			}
			wantResult(t, r, 50, "appended")

			appendRecord(t, filepath.Join(m.dir, l.journals[1]), ent(51, "appended later"))
			if err := r.Refresh(); err != nil {
				t.Fatal(err)
			}
			if read := trackedJournals(r) == 2; read != tt.readLater {
				t.Fatalf("the journal appended to after the check: read %v, want %v", read, tt.readLater)
			}
			for i := range 30 {
				wantResult(t, r, i, fmt.Sprint(i/10))
			}
		})
	}
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

// TestTrustSummaryBetweenChecks: files a compaction retires between two
// checks stay in a trusting view (their records twice, resolving alike)
// until the next check drops them.
func TestTrustSummaryBetweenChecks(t *testing.T) {
	root := t.TempDir()
	m := compactedJournals(t, root) // one segment of keys 0-29
	m.Close()
	r := mustOpen(t, root, "f", Options{ReadOnly: true, TrustSummary: true, FullRefresh: time.Hour})
	defer r.Close()
	if err := r.Refresh(); err != nil { // a check
		t.Fatal(err)
	}
	before := len(segments(r))

	w := mustOpen(t, root, "f", Options{})
	mustAppend(t, w, ent(5, "replaced"), ent(40, "new"))
	w.Close() // its journal: dead, so the next full compaction merges it
	w = mustOpen(t, root, "f", Options{})
	if err := w.Compact(true); err != nil { // retires the segment and the journal
		t.Fatal(err)
	}
	w.Close()

	check := func(when string, wantSegs int) {
		t.Helper()
		if err := r.Refresh(); err != nil {
			t.Fatal(err)
		}
		if n := len(segments(r)); n != wantSegs {
			t.Fatalf("%s: %d segments in the view, want %d", when, n, wantSegs)
		}
		for i := range 30 {
			if i != 5 {
				wantResult(t, r, i, fmt.Sprint(i/10))
			}
		}
		wantResult(t, r, 5, "replaced")
		wantResult(t, r, 40, "new")
	}
	check("before the next check", before+1) // the retired segment, and the output
	r.mu.Lock()
	r.checkedAt = 0 // FullRefresh has passed
	r.mu.Unlock()
	check("after the next check", 1)
}
