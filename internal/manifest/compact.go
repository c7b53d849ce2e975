package manifest

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/lock"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/retire"
)

// Compaction keeps lookups fast and the file count small. It runs under the
// manifest's exclusive lock and:
//
//  1. merges every dead journal (one whose writer lock it can take) into a new
//     segment;
//  2. while 4 or more segments share a size class (floor(log4(records))),
//     merges all of that class into one segment (size-tiered, so a record is
//     rewritten about log4(n) times over its life and an insert costs O(1)
//     amortised per level);
//
// or, when full, merges every dead journal and every segment into one (as
// does the compaction of a Manifest's Close whose own records are at least
// half of all, see compaction.own). A
// merge keeps one record per key, the winner by the resolution rule, and
// keeps tombstones (an older record for the key may still arrive by rsync).
// Inputs are retired only after the output segment is in place (and fsynced,
// with Options.Durable), so a crash at any point loses nothing: at worst both
// the inputs and the output remain, which resolve to the same entries.
// Retired inputs (package retire) stay under their names for
// Options.RetireGrace, so a sync copying the directory never sees them
// vanish; they are never inputs again, and a later compaction deletes them
// (unless a sync appended to one meanwhile: then it is an input again).
// Files it cannot read (unknown version, bad header, bad segment) are never
// inputs: they are left for Repair.

// testHookBeforeDelete, when set, runs after a merge's output is in place and
// before its inputs are deleted; an error aborts the compaction there.
var testHookBeforeDelete func() error

// compaction merges the files of one manifest.
type compaction struct {
	d         layout.Dir
	name, dir string
	lockName  string
	durable   bool
	skip      string // the caller's own live journal (its lock would not stop us within one *Flock)
	report    func(Problem)
	logf      func(format string, args ...any)
	// retireGrace is Options.RetireGrace.
	retireGrace time.Duration
	retired     map[string]retire.Record // this directory's retired files, by rel
	// own is the number of records the caller wrote (Manifest.Close): when
	// they are at least half of the records of the inputs, and those are
	// at most closeMergeRecords, the compaction is full. Merging everything
	// then costs a fraction of what the caller's own writing cost, and
	// leaves one segment where a size-tiered merge leaves up to three per
	// size class for every later process to open and search; a caller
	// that added a few records to a large manifest merges only what the
	// tiers ask.
	own int
	// known holds copies of what the caller's view read of journals, by
	// name: a dead journal found there is read only beyond it (readTail
	// checks the file is the same one, and starts over if it is not).
	known map[string]*jstate
}

// deadJournal is an input journal with its writer lock, held by us.
type deadJournal struct {
	st   *jstate
	lock *lock.Held
}

// run compacts. With wait it blocks for the manifest lock; otherwise it
// returns at once (having done nothing) when another compaction holds it.
func (c *compaction) run(full, wait bool) error {
	lk, err := lockManifest(c.d, c.lockName, "compact", wait)
	if err != nil || lk == nil {
		return err
	}
	defer lk.Release()

	if err := c.reap(); err != nil {
		return err
	}
	l, err := listDir(c.dir)
	if err != nil {
		return err
	}
	// Retired files are already in an output: never inputs again.
	retired := func(n string) bool { _, ok := c.retired[c.d.Rel(filepath.Join(c.dir, n))]; return ok }
	l.journals = slices.DeleteFunc(l.journals, retired)
	l.segments = slices.DeleteFunc(l.segments, retired)
	dead, err := c.deadJournals(l.journals)
	defer func() {
		for _, d := range dead {
			d.lock.Release()
		}
	}()
	if err != nil {
		return err
	}
	var opened []*segment
	defer func() {
		for _, s := range opened {
			s.release()
		}
	}()
	for _, n := range l.segments {
		s, err := openSegment(c.dir, n)
		switch {
		case err == nil:
			opened = append(opened, s)
		case errors.Is(err, errVanished):
		case isDamage(err):
			c.report(fileProblem(c.dir+string(os.PathSeparator)+n, err))
		default:
			return err
		}
	}
	segs := slices.Clone(opened)
	defer c.summarise()
	full = full || c.ownsHalf(dead, segs)

	return guardFaults(func() error {
		if full {
			if len(dead) == 0 && len(segs) <= 1 {
				return nil
			}
			out, err := c.merge(dead, segs)
			if out != nil {
				opened = append(opened, out)
			}
			return err
		}
		if len(dead) > 0 {
			out, err := c.merge(dead, nil)
			if err != nil {
				return err
			}
			if out != nil {
				opened = append(opened, out)
				segs = append(segs, out)
			}
		}
		for {
			group := pickTier(segs)
			if group == nil {
				return nil
			}
			out, err := c.merge(nil, group)
			if err != nil {
				return err
			}
			segs = slices.DeleteFunc(segs, func(s *segment) bool { return slices.Contains(group, s) })
			if out != nil {
				opened = append(opened, out)
				segs = append(segs, out)
			}
		}
	})
}

// ownsHalf reports whether the caller's own records (c.own) are at least
// half of those the dead journals and segments hold, which are at most
// closeMergeRecords, with more than one file to merge.
func (c *compaction) ownsHalf(dead []*deadJournal, segs []*segment) bool {
	if c.own == 0 || len(dead)+len(segs) < 2 {
		return false
	}
	total := 0
	for _, d := range dead {
		total += len(d.st.recs)
	}
	for _, s := range segs {
		total += s.count
	}
	return 2*c.own >= total && total <= closeMergeRecords
}

// deadJournals takes the writer lock of every journal that has none held
// and reads it. Journals it cannot read are let go again.
func (c *compaction) deadJournals(names []string) ([]*deadJournal, error) {
	var dead []*deadJournal
	for _, n := range names {
		if n == c.skip {
			continue
		}
		lk, ok, err := lock.Try(c.d.JournalLock(n), lock.Exclusive)
		if err != nil {
			return dead, err
		}
		if !ok {
			continue // a live writer
		}
		st := c.known[n]
		if st == nil {
			st = newJState(c.dir, n)
		}
		_, _, err = st.readTail(c.report)
		if err != nil || st.off == 0 { // vanished, unknown version, bad header, or I/O error
			lk.Release()
			if err != nil && !errors.Is(err, errVanished) && !errors.Is(err, record.ErrUnknownVersion) {
				return dead, err
			}
			continue
		}
		dead = append(dead, &deadJournal{st: st, lock: lk})
	}
	return dead, nil
}

// sizeClass is floor(log4(n)).
func sizeClass(n int) int { return (bits.Len(uint(n)) - 1) / 2 }

// pickTier returns the segments of the smallest size class that has at least
// four, or nil.
func pickTier(segs []*segment) []*segment {
	byClass := make(map[int][]*segment)
	best := -1
	for _, s := range segs {
		k := sizeClass(s.count)
		byClass[k] = append(byClass[k], s)
		if len(byClass[k]) >= 4 && (best < 0 || k < best) {
			best = k
		}
	}
	if best < 0 {
		return nil
	}
	return byClass[best]
}

// outRec is one record of a segment being written.
type outRec struct {
	h   record.KeyHash
	raw []byte
}

// merge writes the resolved records of the inputs to a new segment, then
// deletes the inputs, and returns the new segment opened (nil when the
// inputs held no records).
func (c *compaction) merge(journals []*deadJournal, segs []*segment) (*segment, error) {
	var srcs []source
	total := 0 // records in, an upper bound of those out
	for _, d := range journals {
		srcs = append(srcs, newSliceSource(d.st.recs))
		total += len(d.st.recs)
	}
	for _, s := range segs {
		srcs = append(srcs, &segSource{s: s, report: c.report})
		total += s.count
	}
	out := make([]outRec, 0, total) // grown by append, a large merge copied it over and over
	if err := merge(srcs, func(r *rec) error {
		out = append(out, outRec{r.e.KeyHash, r.raw})
		return nil
	}); err != nil {
		return nil, err
	}
	var name string
	if len(out) > 0 {
		var err error
		name, err = writeSegment(c.d.Tmp(), c.dir, c.name, len(out), func(i int) (*record.KeyHash, []byte, error) {
			return &out[i].h, out[i].raw, nil
		}, c.durable)
		if err != nil {
			return nil, fmt.Errorf("manifest: compact %s: %w", c.name, err)
		}
	}
	if testHookBeforeDelete != nil {
		if err := testHookBeforeDelete(); err != nil {
			return nil, err
		}
	}
	// The output is in place: only now may the inputs go.
	for _, s := range segs {
		if s.name != name {
			c.retire(s.path)
		}
	}
	for _, d := range journals {
		if c.retire(d.st.path) {
			// Nobody can want this lock again: its journal is gone. Delete the
			// lock file while holding the lock, then let go.
			c.remove(c.d.JournalLock(d.st.name))
		}
		d.lock.Release()
		d.lock = nil
	}
	if name == "" {
		return nil, nil
	}
	s, err := openSegment(c.dir, name)
	if err != nil {
		return nil, fmt.Errorf("manifest: compact %s: reopen output: %w", c.name, err)
	}
	return s, nil
}

// reap deletes the retired files of this directory whose grace has passed
// and lists the others (which are no inputs). The manifest lock is held.
func (c *compaction) reap() error {
	rel := c.d.Rel(c.dir)
	here := func(r string) bool { return path.Dir(r) == rel }
	grace := c.retireGrace
	if grace == 0 {
		grace = retire.Grace
	}
	if _, err := retire.Reap(c.d, max(grace, 0), time.Now(), here); err != nil {
		return fmt.Errorf("manifest: compact %s: %w", c.name, err)
	}
	var err error
	c.retired, err = retire.List(c.d, here)
	return err
}

// retire keeps a superseded input for the grace period (retire.Retire), or
// deletes it when there is none or it lies outside what a sync copies.
func (c *compaction) retire(p string) bool {
	if c.retireGrace >= 0 {
		if r, ok := retire.RetireRecord(c.d, p, time.Now()); ok {
			if c.retired == nil {
				c.retired = map[string]retire.Record{}
			}
			c.retired[r.Rel] = r
			return true
		}
	}
	return c.remove(p)
}

// summarise writes the directory's summary of its retirement records
// (retire.WriteSummary): the ones reap found and the ones this run wrote,
// so the next fresh view reads one file instead of each record. A failure
// costs that view its shortcut only.
func (c *compaction) summarise() {
	recs := make([]retire.Record, 0, len(c.retired))
	for _, r := range c.retired {
		recs = append(recs, r)
	}
	if err := retire.WriteSummary(c.d, c.d.Rel(c.dir), recs); err != nil {
		c.logf("manifest: compact %s: summary of retired files: %v", c.name, err)
	}
}

// remove deletes a file, logging a failure (the file then stays; its records
// are also in the output, so keeping it is harmless).
func (c *compaction) remove(path string) bool {
	if err := c.d.Remove(path); err != nil { // follows no link out of the cache
		c.logf("manifest: compact %s: %v", c.name, err)
		return false
	}
	return true
}
