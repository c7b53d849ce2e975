package manifest

import (
	"time"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/retire"
)

// testHookRetireLookup, when set, runs before every retirement record a
// refresh reads on its own (retire.Lookup): what the directory's summary
// spares.
var testHookRetireLookup func()

// retirement is what a refresh learnt, before listing the directory, of
// which of its files are retired (package retire): the records there are
// (one listing of locks/retired/), the directory's summary of them (one
// read), and the answers of the records it read one by one.
type retirement struct {
	m       *Manifest
	relDir  string
	records retire.Records  // the records under locks/retired/
	buf     []byte          // hasRecord's scratch
	summary *retire.Summary // nil: none
	asked   map[string]bool // journals whose record was read: retired or not
	trust   bool            // the summary's word is taken (Options.TrustSummary)
	// known, when set, is the last check's answer, taken instead of
	// records and summary (recent); found collects this pass's answer.
	known, found map[string]bool
}

// retirement learns which files of the directory are retired, before a
// listing: seen are the names of the listing before (nil for the first).
// A journal whose record is there but that the summary does not name (a
// compaction by a release before summaries, or one that died before
// writing it) has its record read now; in a fresh view of a directory
// without a summary, that is every such journal of a listing made for the
// purpose. A mirror's directory retires nothing: nil.
//
// With Options.TrustSummary, a refresh within FullRefresh of the last one
// that checked (recent) takes that check's answer instead of reading the
// records and the summary again: a file retired since is read as live
// until the next check (its records are also in the output that replaced
// it, so the view holds them twice, which resolve alike), and a file the
// check found retired stays so.
func (m *Manifest) retirement(seen []string, fresh bool) *retirement {
	if m.opts.Dir != "" {
		return nil
	}
	recent := time.Now().UnixNano()-m.checkedAt < int64(m.opts.FullRefresh)
	if m.opts.TrustSummary && !fresh && recent && m.retiredSet != nil {
		return &retirement{m: m, trust: true, known: m.retiredSet}
	}
	records := retire.Names(m.d)
	if len(records) == 0 {
		return nil
	}
	r := &retirement{m: m, relDir: m.d.Rel(m.dir), records: records, asked: map[string]bool{},
		trust: m.opts.TrustSummary && fresh, found: map[string]bool{}}
	r.summary = retire.ReadSummary(m.d, r.relDir)
	if fresh && r.summary == nil {
		if l, err := listDir(m.dir); err == nil {
			seen = l.journals
		}
	}
	for _, n := range seen {
		if !layout.IsJournalName(n) || m.journals[n] != nil || r.summary.Has(n) || !r.hasRecord(n) {
			continue
		}
		if testHookRetireLookup != nil {
			testHookRetireLookup()
		}
		_, r.asked[n] = retire.Lookup(m.d, r.rel(n))
	}
	return r
}

// rel returns the cache-relative name of file n of the directory.
func (r *retirement) rel(n string) string { return r.relDir + "/" + n }

// hasRecord reports whether file n had a retirement record when r was made
// (one hash, no allocation: a fresh view asks it of every file listed).
func (r *retirement) hasRecord(n string) bool {
	r.buf = append(append(append(r.buf[:0], r.relDir...), '/'), n...)
	return r.records[layout.RetiredRecordHash(r.buf)]
}

// retired reports whether the listed file n is retired: it had a record
// before the listing and, if it is a journal the view does not read yet,
// it is still as its record (read, or as the summary repeats it) says, or
// the summary lists it and its word is taken (r.trust). A
// segment is named by its content and never changes: its record says it.
func (r *retirement) retired(n string) bool {
	if r == nil || r.m.journals[n] != nil {
		return false
	}
	if r.known != nil {
		return r.known[n]
	}
	if !r.check(n) {
		return false
	}
	r.found[n] = true
	return true
}

// check is retired's answer from the records and the summary.
func (r *retirement) check(n string) bool {
	if !r.hasRecord(n) {
		return false
	}
	if layout.IsSegmentName(n) {
		return true
	}
	if ok, asked := r.asked[n]; asked {
		return ok
	}
	if r.trust && r.summary.Has(n) {
		return true
	}
	// Not listed by the summary either: its record was not read before the
	// listing, so the journal is read.
	return r.summary.Unchanged(r.m.d, n)
}
