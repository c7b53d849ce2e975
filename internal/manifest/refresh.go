package manifest

import (
	"errors"
	"os"
	"sort"
	"time"

	"github.com/pcache/pcache/internal/lock"
	"github.com/pcache/pcache/internal/manifest/record"
)

// maxRelist bounds how often one refresh lists the directory again after
// seeing files vanish.
const maxRelist = 8

// refreshLocked updates the view from the directory. Called with m.mu held.
//
// Compactions write their output before deleting their inputs, so a listing
// that lacks a file which was there before may have been taken while a
// compaction was renaming and deleting: the output may have been missed. So
// whenever a file vanishes (absent from a listing, or gone when opened), the
// directory is listed again, until a listing loses nothing the previous one
// had. With strictVersion, a file of an unknown format version is an error
// (for Open); otherwise it is only a Problem.
func (m *Manifest) refreshLocked(strictVersion bool) error {
	m.refreshes.Add(1)
	p := &refreshPass{m: m, rebuild: m.rebuild, opened: make(map[string]*segment), started: time.Now().UnixNano()}
	// Before reading: a change during the read makes the view stale.
	p.boardV, p.boardOK = m.opts.Board.Load(m.topic)
	p.rmV, p.rmOK = m.opts.Board.Load(m.rmTopic)
	if err := p.read(); err != nil {
		return p.fail(err)
	}
	p.install()
	m.maybeAutoCompactLocked(p.journals)
	if strictVersion && p.versionErr != nil {
		return p.versionErr
	}
	return nil
}

// refreshPass is one refresh of a Manifest's view: what it read, until
// install makes it the view.
type refreshPass struct {
	m          *Manifest
	versionErr error  // a file of an unknown format version was seen
	newRecs    []*rec // records read from journals' tails
	rebuild    bool   // a journal vanished or was replaced: rebuild mem
	journals   map[string]*jstate
	segs       map[string]*segment
	opened     map[string]*segment // opened by this refresh
	started    int64               // unix ns
	boardV     uint64
	rmV        uint64
	boardOK    bool
	rmOK       bool
	retired    *retirement // the last listing's (nil: nothing is retired)
}

// fail ends a refresh that could not read the directory: it keeps what was
// read (the journals' read offsets have moved past those records) and
// unmaps what it opened.
func (p *refreshPass) fail(err error) error {
	m := p.m
	m.releaseUnused(p.opened, nil)
	m.rw.Lock()
	mergeInto(m.mem, p.newRecs...)
	m.rw.Unlock()
	m.rebuild = p.rebuild
	return err
}

// read lists the directory and reads what is new in it (journals' tails,
// segments not open yet), listing again while files vanish under it.
func (p *refreshPass) read() error {
	m := p.m
	prev := make(map[string]bool)
	for n := range m.journals {
		prev[n] = true
	}
	for n := range m.segs {
		prev[n] = true
	}
	// Files a compaction retired (package retire) stay on disk for a while,
	// their records also in its output: the view leaves them out, so a
	// fresh process does not read a fill's compacted journals again and
	// lookups do not search merged segments. Whether a file is retired is
	// learnt before the listing the pass reads (retirement): the output of
	// a compaction that retired a file by then is in that listing.
	var seen []string
	for attempt := 0; ; attempt++ {
		retired := m.retirement(seen, len(m.journals) == 0 && len(m.segNames) == 0)
		p.retired = retired
		l, err := listDir(m.dir)
		if err != nil {
			return err
		}
		seen = append(append(seen[:0], l.journals...), l.segments...)
		listed := make(map[string]bool, len(l.journals)+len(l.segments))
		vanishedJ, err := p.readJournals(l.journals, listed, retired)
		if err != nil {
			return err
		}
		vanishedS, err := p.openSegments(l.segments, listed, retired)
		if err != nil {
			return err
		}
		vanished := vanishedJ || vanishedS
		for n := range prev {
			if !listed[n] {
				vanished = true
			}
		}
		for n := range m.segNames {
			if !listed[n] {
				delete(m.segNames, n) // gone: deleted, or reaped
			}
		}
		if !vanished || attempt == maxRelist {
			return nil
		}
		prev = listed
	}
}

// readJournals reads the new records of the listed journals (retired ones
// not read before left out), noting each in listed; it reports whether one
// vanished before it was read.
func (p *refreshPass) readJournals(names []string, listed map[string]bool, retired *retirement) (vanished bool, err error) {
	m := p.m
	p.journals = make(map[string]*jstate, len(names))
	for _, n := range names {
		listed[n] = true
		st := m.journals[n]
		if st == nil && retired.retired(n) {
			continue
		}
		if st == nil {
			st = newJState(m.dir, n)
			m.journals[n] = st // kept across attempts; pruned by install
		}
		recs, replaced, err := st.readTail(m.report)
		switch {
		case errors.Is(err, errVanished):
			vanished = true
			continue
		case errors.Is(err, record.ErrUnknownVersion):
			p.versionErr = err
		case err != nil:
			return vanished, err
		}
		p.rebuild = p.rebuild || replaced
		p.newRecs = append(p.newRecs, recs...)
		p.journals[n] = st
	}
	return vanished, nil
}

// openSegments opens the listed segments not open yet (retired ones left
// out, damaged ones reported once until their file changes), noting each in
// listed; it reports whether one vanished before it was opened.
func (p *refreshPass) openSegments(names []string, listed map[string]bool, retired *retirement) (vanished bool, err error) {
	m := p.m
	p.segs = make(map[string]*segment, len(names))
	for _, n := range names {
		listed[n] = true
		m.segNames[n] = true
		if retired.retired(n) {
			continue
		}
		if s := m.segs[n]; s != nil {
			p.segs[n] = s
			continue
		}
		if s := p.opened[n]; s != nil {
			p.segs[n] = s
			continue
		}
		path := m.dir + string(os.PathSeparator) + n
		if bad := m.badSegs[n]; bad != nil {
			// Damaged before; look again only if the file was replaced
			// (say, a partial copy completed by a later rsync).
			if fi, err := os.Lstat(path); err == nil && os.SameFile(fi, bad) && fi.Size() == bad.Size() && fi.ModTime().Equal(bad.ModTime()) {
				continue
			}
			delete(m.badSegs, n)
		}
		s, err := openSegment(m.dir, n)
		switch {
		case err == nil:
			p.opened[n] = s
			p.segs[n] = s
		case errors.Is(err, errVanished):
			vanished = true
		case isDamage(err):
			if fi, serr := os.Lstat(path); serr == nil {
				m.badSegs[n] = fi
			}
			m.report(fileProblem(path, err))
			if errors.Is(err, record.ErrUnknownVersion) {
				p.versionErr = err
			}
		default:
			return vanished, err
		}
	}
	return vanished, nil
}

// install makes what the pass read the Manifest's view: it forgets
// journals that are gone (their records are in the segments that replaced
// them), rebuilds or extends the in-memory records, swaps the segment list,
// notes what the view is current with, and unmaps segments no longer
// listed (Lookups that used them are done, as they hold rw; Iterate holds
// its own references).
func (p *refreshPass) install() {
	m := p.m
	for n := range m.journals {
		if p.journals[n] == nil {
			delete(m.journals, n)
			p.rebuild = true
		}
	}
	var mem map[[32]byte]*rec
	if p.rebuild {
		mem = make(map[[32]byte]*rec)
		for _, st := range p.journals {
			for _, r := range st.recs {
				mergeInto(mem, r)
			}
		}
	}
	segList := make([]*segment, 0, len(p.segs))
	for _, s := range p.segs {
		segList = append(segList, s)
	}
	for _, s := range p.opened {
		s.builders = &m.filters // before lookups see it: they start its filter (bloomAfter)
	}
	sort.Slice(segList, func(i, j int) bool { return segList[i].name < segList[j].name })

	m.rw.Lock()
	if p.rebuild {
		m.mem = mem
	} else {
		mergeInto(m.mem, p.newRecs...)
	}
	m.segList = segList
	m.rw.Unlock()
	m.rebuild = false
	m.updateForget()
	m.seen.Store(p.boardV)
	m.seenOK.Store(p.boardOK)
	m.rmSeen.Store(p.rmV)
	m.rmSeenOK.Store(p.rmOK)
	m.fullAt.Store(p.started)
	switch r := p.retired; {
	case r == nil:
		m.checkedAt, m.retiredSet = p.started, map[string]bool{}
	case r.known != nil: // the last check's answer, taken again
	case r.trust: // a first view: its answer, not checked
		m.retiredSet = r.found
	default:
		m.checkedAt, m.retiredSet = p.started, r.found
	}

	old := m.segs
	m.segs = p.segs
	m.releaseUnused(old, p.segs)
	m.releaseUnused(p.opened, p.segs)
}

// releaseUnused releases the segments of set that are not in keep.
func (m *Manifest) releaseUnused(set, keep map[string]*segment) {
	for n, s := range set {
		if keep[n] != s {
			s.release()
		}
	}
}

// maybeAutoCompactLocked starts a background compaction when many journals
// other than our own have piled up (writers that exited without reaching
// their JournalLimit leave small journals behind), or, at the first
// refresh, when one of them holds closeCompactRecords records or more and
// its writer is gone: a writer that exits without Close leaves the
// compaction its Close would have made to the next process that opens the
// manifest to write, instead of every later process reading the journal
// whole.
func (m *Manifest) maybeAutoCompactLocked(journals map[string]*jstate) {
	n := 0
	for name, st := range journals {
		if st.off > 0 && (m.w == nil || name != m.w.name) {
			n++
		}
	}
	if m.closed.Load() || m.opts.ReadOnly {
		return
	}
	if n > autoCompactJournals && n != m.autoCount {
		m.autoCount = n
		m.compactAsyncLocked()
		return
	}
	if m.deadLooked {
		return
	}
	m.deadLooked = true
	for name, st := range journals {
		if st.off > 0 && (m.w == nil || name != m.w.name) && len(st.recs) >= closeCompactRecords && m.writerGone(name) {
			m.compactAsyncLocked()
			return
		}
	}
}

// writerGone reports whether journal name's writer lock is free: its
// writer exited (or closed it without compacting).
func (m *Manifest) writerGone(name string) bool {
	lk, ok, err := lock.Try(m.d.JournalLock(name), lock.Exclusive)
	if err != nil || !ok {
		return false
	}
	lk.Release()
	return true
}
