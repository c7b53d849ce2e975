package manifest

import (
	"errors"
	"os"
	"sort"
	"time"

	"github.com/pcache/pcache/manifest/record"
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
	boardV, boardOK := m.opts.Board.Load(m.topic) // before reading: a change during the read makes the view stale
	rmV, rmOK := m.opts.Board.Load(m.rmTopic)
	started := time.Now().UnixNano()
	report := m.report
	var (
		versionErr error
		newRecs    []*rec
		rebuild    = m.rebuild // a journal vanished or was replaced: rebuild mem
		journals   map[string]*jstate
		segs       map[string]*segment
		opened     = make(map[string]*segment) // opened by this refresh
	)
	// On failure, keep what was read: the journals' read offsets have moved
	// past these records.
	fail := func(err error) error {
		m.releaseUnused(opened, nil)
		m.rw.Lock()
		mergeInto(m.mem, newRecs...)
		m.rw.Unlock()
		m.rebuild = rebuild
		return err
	}
	prev := make(map[string]bool)
	for n := range m.journals {
		prev[n] = true
	}
	for n := range m.segs {
		prev[n] = true
	}
	for attempt := 0; ; attempt++ {
		// Segments a compaction retired (package retire) stay on disk for a
		// while, their records also in its output: the view leaves them out,
		// so lookups do not search them. Asked before listing: the output
		// of a compaction that retired a segment by then is in the listing.
		retired := m.retiredSegs()
		l, err := listDir(m.dir)
		if err != nil {
			return fail(err)
		}
		vanished := false
		listed := make(map[string]bool, len(l.journals)+len(l.segments))
		journals = make(map[string]*jstate, len(l.journals))
		for _, n := range l.journals {
			listed[n] = true
			st := m.journals[n]
			if st == nil {
				st = newJState(m.dir, n)
				m.journals[n] = st // kept across attempts; pruned below
			}
			recs, replaced, err := st.readTail(report)
			switch {
			case errors.Is(err, errVanished):
				vanished = true
				continue
			case errors.Is(err, record.ErrUnknownVersion):
				versionErr = err
			case err != nil:
				return fail(err)
			}
			rebuild = rebuild || replaced
			newRecs = append(newRecs, recs...)
			journals[n] = st
		}
		segs = make(map[string]*segment, len(l.segments))
		for _, n := range l.segments {
			listed[n] = true
			m.segNames[n] = true
			if retired[n] {
				continue
			}
			if s := m.segs[n]; s != nil {
				segs[n] = s
				continue
			}
			if s := opened[n]; s != nil {
				segs[n] = s
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
				opened[n] = s
				segs[n] = s
			case errors.Is(err, errVanished):
				vanished = true
			case isDamage(err):
				if fi, serr := os.Lstat(path); serr == nil {
					m.badSegs[n] = fi
				}
				report(fileProblem(path, err))
				if errors.Is(err, record.ErrUnknownVersion) {
					versionErr = err
				}
			default:
				return fail(err)
			}
		}
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
			break
		}
		prev = listed
	}

	// Forget journals that are gone; their records are in the segments that
	// replaced them.
	for n := range m.journals {
		if journals[n] == nil {
			delete(m.journals, n)
			rebuild = true
		}
	}
	var mem map[[32]byte]*rec
	if rebuild {
		mem = make(map[[32]byte]*rec)
		for _, st := range journals {
			for _, r := range st.recs {
				mergeInto(mem, r)
			}
		}
	}
	segList := make([]*segment, 0, len(segs))
	for _, s := range segs {
		segList = append(segList, s)
	}
	sort.Slice(segList, func(i, j int) bool { return segList[i].name < segList[j].name })

	m.rw.Lock()
	if rebuild {
		m.mem = mem
	} else {
		mergeInto(m.mem, newRecs...)
	}
	m.segList = segList
	m.rw.Unlock()
	m.rebuild = false
	m.updateForget()
	m.seen.Store(boardV)
	m.seenOK.Store(boardOK)
	m.rmSeen.Store(rmV)
	m.rmSeenOK.Store(rmOK)
	m.fullAt.Store(started)

	// Segments no longer listed: unmap (Lookups that used them are done, as
	// they hold rw; Iterate holds its own references).
	old := m.segs
	m.segs = segs
	m.releaseUnused(old, segs)
	m.releaseUnused(opened, segs)
	for n, s := range opened {
		if segs[n] == s {
			s.startFilter(&m.filters)
		}
	}

	m.maybeAutoCompactLocked(journals)
	if strictVersion && versionErr != nil {
		return versionErr
	}
	return nil
}

// retiredSegs returns which segments seen before are retired now, by one
// stat of each one's retirement record. A mirror's directory retires
// nothing.
func (m *Manifest) retiredSegs() map[string]bool {
	if m.opts.Dir != "" || len(m.segNames) == 0 {
		return nil
	}
	out := map[string]bool{}
	for n := range m.segNames {
		p := m.dir + string(os.PathSeparator) + n
		if _, err := os.Lstat(m.d.RetiredRecord(m.d.Rel(p))); err == nil {
			out[n] = true
		}
	}
	return out
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
// their JournalLimit leave small journals behind).
func (m *Manifest) maybeAutoCompactLocked(journals map[string]*jstate) {
	n := 0
	for name, st := range journals {
		if st.off > 0 && (m.w == nil || name != m.w.name) {
			n++
		}
	}
	if n > autoCompactJournals && n != m.autoCount && !m.closed.Load() {
		m.autoCount = n
		m.compactAsyncLocked()
	}
}
