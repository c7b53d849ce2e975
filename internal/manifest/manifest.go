package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/board"
	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
)

// Options configure a Manifest.
type Options struct {
	// Durable fsyncs every append, and every compaction output before its
	// inputs are deleted. Without it a process crash loses nothing that
	// Append returned, but an operating-system crash or power failure can
	// lose recent records; what survives is still read correctly (damaged
	// records are detected and skipped).
	Durable bool
	// JournalLimit is the number of records after which a writer starts a new
	// journal and compacts the old one into a segment. Default 8192 (defaultJournalLimit).
	JournalLimit int
	// Now is the clock stamped on records; default time.Now. It must be safe
	// for concurrent use.
	Now func() time.Time
	// ReadOnly makes Append, Delete and Compact fail with ErrReadOnly and
	// turns off automatic compaction: the Manifest never writes.
	ReadOnly bool
	// Logf receives errors of background work (automatic compaction) that
	// have no caller to return to. Default: discard.
	Logf func(format string, args ...any)
	// Board, if set, is the cache's change board: appends bump this
	// function's counter, and a lookup that misses refreshes the view only
	// when the counter moved (or FullRefresh has passed). Without a board
	// every miss refreshes. Appends that take an entry away (a tombstone, a
	// function-wide tombstone, a new result over a live one) also bump the
	// function's removal counter, which a lookup that hits reads: a removal
	// by any process on this machine is seen by every other's next lookup.
	Board *board.Board
	// FullRefresh is how long a view is trusted when the board shows no
	// change: changes that bump no counter (files copied in by rsync,
	// writers on other machines) are seen within it by lookups that miss;
	// without a board, by lookups that hit as well. Default 1s.
	FullRefresh time.Duration
	// RetireGrace is how long the journals and segments a compaction
	// supersedes stay before a later compaction deletes them, so a sync
	// copying the cache meanwhile never sees them vanish (package retire).
	// Zero: retire.Grace; negative: they are deleted at once. Files outside
	// manifests/ (a mirror's) are always deleted at once.
	RetireGrace time.Duration
	// TrustSummary lets a refresh take the retirement summary's word
	// (package retire) that the retired journals it lists are as they were
	// retired, instead of checking each one's size and time, in the first
	// view (the one Open reads) and within FullRefresh of the last refresh
	// that checked: after a large fill, a check is a thousand lstats, paid
	// before the first hit of every new process, and by every refresh of a
	// reader beside a writer, for an hour. A journal a sync appended to is
	// still read within FullRefresh, as for any change a sync brings. Off,
	// every refresh checks: what decides which objects are referenced (gc)
	// must not miss a record.
	TrustSummary bool
	// Dir, if set, is the directory of the manifest's files instead of the
	// function's directory in the cache (a mirror of a remote index).
	Dir string
}

// defaultJournalLimit is the JournalLimit used when Options leaves it
// zero: 8192 records (about 1.2 MB of small entries), unless
// SetDefaultJournalLimit changed it. Each journal a fill closes becomes a
// segment and is retired for the grace hour, so the limit sets how many
// files a fill leaves: 8192 leaves about 280 after a million entries
// where 1024 left 1,800 (every fresh process lists them within the hour:
// its first hit took 6.1 ms, now 1.8), and its compactions rewrite each
// record fewer times (a fill of a million took 40 s, now 22). A writer that dies
// leaves a journal of up to that many records, which the next process
// opening the manifest to write compacts (maybeAutoCompactLocked).
var defaultJournalLimit atomic.Int64

func init() { defaultJournalLimit.Store(8192) }

// SetDefaultJournalLimit sets the JournalLimit of the manifests opened
// afterwards with none of their own, in this process. It is for tests that
// drive whole programs through the public API and want journals to rotate
// and compact after a hundred entries rather than thousands: the same
// paths at a fraction of the files.
func SetDefaultJournalLimit(n int) { defaultJournalLimit.Store(int64(n)) }

// defaultFullRefresh is the FullRefresh used when Options leaves it zero.
const defaultFullRefresh = time.Second

// autoCompactJournals: more readable journals than this (other than our
// own) make a refresh start a compaction.
const autoCompactJournals = 16

var (
	// ErrClosed is returned by methods of a closed Manifest.
	ErrClosed = errors.New("manifest: closed")
	// ErrReadOnly is returned by writing methods under Options.ReadOnly.
	ErrReadOnly = errors.New("manifest: read-only")
)

// Manifest is one function's index: key hash → record.Entry. It is safe for
// concurrent use by goroutines, and any number of Manifests, in any number of
// processes on one machine, may use one directory at once (file locking on
// network filesystems is unreliable, so there several machines must not share
// a cache directory live; copying caches between machines is fine).
//
// A Manifest keeps an in-memory view of the directory: every journal's
// records, resolved, and each segment's index, mapped. Lookup answers from
// the view without touching the disk when it finds the key, and refreshes
// the view (reading only what is new) when it does not.
type Manifest struct {
	d         layout.Dir
	name, dir string
	lockName  string // names the maintenance lock (the function's, or its Options.Dir's)
	opts      Options
	topic     board.Topic
	rmTopic   board.Topic // the removal counter (Options.Board)

	// mu serialises changes to the view (refresh, append, close) and guards
	// the fields below it.
	mu         sync.Mutex
	journals   map[string]*jstate
	segs       map[string]*segment
	badSegs    map[string]os.FileInfo // segment files found damaged: skipped while unchanged
	segNames   map[string]bool        // every segment name listed so far (none, and no journal: a fresh view)
	w          *journalWriter
	autoCount  int             // journal count that last triggered automatic compaction
	deadLooked bool            // the first refresh looked for a large dead journal (maybeAutoCompactLocked)
	rebuild    bool            // a failed refresh left mem to be rebuilt
	checkedAt  int64           // when a refresh last checked the retired files (unix ns; Options.TrustSummary)
	retiredSet map[string]bool // the files the last check found retired (nil: none made)

	// rw guards what Lookup reads: mem and segList.
	rw      sync.RWMutex
	mem     map[[32]byte]*rec // every journal's records, resolved
	segList []*segment

	closed    atomic.Bool
	appended  atomic.Int64  // records this Manifest wrote (Close's compaction)
	refreshes atomic.Uint64 // refreshes started
	lastTime  atomic.Int64  // last Time stamped by Append
	problems  problemSet
	seen      atomic.Uint64 // the board counter the view is current with
	seenOK    atomic.Bool   // seen is valid
	rmSeen    atomic.Uint64 // the removal counter the view is current with
	rmSeenOK  atomic.Bool   // rmSeen is valid
	fullAt    atomic.Int64  // when the view was last refreshed (unix ns)
	forgetT   atomic.Int64  // records with a Time up to this are forgotten (record.ForgetAll); 0: none
	forgetU   atomic.Int64  // the same for records of no recorded result type (record.ForgetUntyped)
	// forgetY caches, per result type, the time of that type's tombstone
	// (record.ForgetType; 0: none), looked up on first need; updateForget
	// empties it when the view changes.
	forgetY atomic.Pointer[map[[32]byte]int64]

	compacting atomic.Bool
	again      atomic.Bool
	wg         sync.WaitGroup
	filters    sync.WaitGroup // segment filter builders (bloom.go)
}

// Open opens the manifest of function name (checked with layout.CheckName)
// in the cache directory d, reading what is there. Nothing is created until
// the first Append. A manifest file written by a newer pcache (unknown format
// version) makes Open fail with an error wrapping record.ErrUnknownVersion;
// damaged files are skipped (and logged through Options.Logf).
func Open(d layout.Dir, name string, opts Options) (*Manifest, error) {
	dir, err := manifestDir(d, name)
	if err != nil {
		return nil, err
	}
	lockName, topic := name, "manifest:"+name
	if opts.Dir != "" {
		// Another directory of the same function's records (a mirror) is
		// maintained on its own: its own lock and change counter.
		dir, lockName, topic = opts.Dir, "dir:"+opts.Dir, "manifest-dir:"+opts.Dir
	}
	if opts.FullRefresh <= 0 {
		opts.FullRefresh = defaultFullRefresh
	}
	if opts.JournalLimit <= 0 {
		opts.JournalLimit = int(defaultJournalLimit.Load())
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	m := &Manifest{
		d: d, name: name, dir: dir, lockName: lockName, opts: opts,
		topic: board.TopicOf(topic), rmTopic: board.TopicOf("removal:" + topic),
		journals: make(map[string]*jstate),
		segs:     make(map[string]*segment),
		badSegs:  make(map[string]os.FileInfo),
		segNames: make(map[string]bool),
		mem:      make(map[[32]byte]*rec),
	}
	m.mu.Lock()
	err = m.refreshLocked(true)
	m.mu.Unlock()
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Name returns the function name the manifest belongs to.
func (m *Manifest) Name() string { return m.name }

// Lookup returns the entry for key hash h, resolved over every record of h
// (see package record). A key whose winning record is a tombstone, or
// older than a function-wide tombstone, is absent. When the key is not in
// the in-memory view, Lookup brings the view up to date (Refresh) and looks
// again. A hit is checked against removals first: when another process
// on this machine removed or replaced an entry of the function since the
// view was read (the board's removal counter moved), or, without a board,
// FullRefresh has passed, the view is brought up to date before answering. Damaged files
// and records are skipped; the error is for I/O failures only.
func (m *Manifest) Lookup(h record.KeyHash) (record.Entry, bool, error) {
	gen := m.refreshes.Load()
	if e, ok, err := m.Peek(h); ok || err != nil {
		if !ok || !m.removedSince() {
			return e, ok, err
		}
		if err := m.refreshAfter(gen); err != nil {
			return record.Entry{}, false, err
		}
		return m.Peek(h)
	}
	if !m.stale() {
		return record.Entry{}, false, nil
	}
	if err := m.refreshAfter(gen); err != nil {
		return record.Entry{}, false, err
	}
	return m.Peek(h)
}

// Peek is Lookup without the refresh on a miss: it consults only the
// in-memory view, never looking for new files or records. Callers that look
// up many keys at once (batches) call Refresh once and then Peek each key.
func (m *Manifest) Peek(h record.KeyHash) (record.Entry, bool, error) {
	if m.closed.Load() {
		return record.Entry{}, false, ErrClosed
	}
	var r rec
	if m.lookupView(&h, &r) && m.live(&r.e) {
		return r.e, true, nil
	}
	return record.Entry{}, false, nil
}

// PeekMany is Peek for each of hs (a range of a batch's keys) under one
// hold of the view's lock: with one hold per key, the lookups of every
// core contend for the lock's reader count. out[i] and found[i] are
// hs[i]'s; the slices must be as long as hs.
func (m *Manifest) PeekMany(hs []record.KeyHash, out []record.Entry, found []bool) error {
	if m.closed.Load() {
		return ErrClosed
	}
	var r rec
	m.rw.RLock()
	for i := range hs {
		if found[i] = m.lookupLocked(&hs[i], &r); found[i] {
			out[i] = r.e
		}
	}
	m.rw.RUnlock()
	for i := range hs { // live may read the view again: not under the hold
		found[i] = found[i] && m.live(&out[i])
	}
	return nil
}

// Newest returns the winning record of h in the in-memory view, a
// tombstone or an entry a function-wide tombstone forgets included (Peek
// leaves those out): what explains a miss.
func (m *Manifest) Newest(h record.KeyHash) (record.Entry, bool) {
	var r rec
	if m.lookupView(&h, &r) {
		return r.e, true
	}
	return record.Entry{}, false
}

// ForgottenAt returns the time up to which entries like e are forgotten by
// a tombstone of many (0: none): the function-wide one, or the one of e's
// result type (or of no recorded type, for an e without one). A nil e asks
// about the function-wide one alone.
func (m *Manifest) ForgottenAt(e *record.Entry) int64 {
	f := m.forgetT.Load()
	switch {
	case e == nil:
	case e.Type == [32]byte{}:
		f = max(f, m.forgetU.Load())
	default:
		f = max(f, m.typeForgotten(&e.Type))
	}
	return f
}

// typeForgotten returns the time of result type y's tombstone in the view
// (0: none).
func (m *Manifest) typeForgotten(y *keying.Fingerprint) int64 {
	p := m.forgetY.Load()
	if p != nil {
		if at, ok := (*p)[*y]; ok {
			return at
		}
	}
	var r rec
	var at int64
	if h := record.ForgetType(*y); m.lookupView(&h, &r) && r.e.Deleted && r.e.Type == *y {
		at = r.e.Time
	}
	if p != nil && len(*p) < 64 {
		// Copy on write; lost if updateForget emptied the cache meanwhile.
		next := make(map[[32]byte]int64, len(*p)+1)
		for k, v := range *p {
			next[k] = v
		}
		next[*y] = at
		m.forgetY.CompareAndSwap(p, &next)
	}
	return at
}

// Shadows reports whether the view holds something that beats e, a record
// from elsewhere (a remote) of one of this function's keys: a newer record
// of its key (a tombstone, say), or a function-wide tombstone that forgets
// it. Like Peek it consults only the in-memory view.
func (m *Manifest) Shadows(e *record.Entry) bool {
	if f := m.ForgottenAt(e); f != 0 && e.Time <= f {
		return true
	}
	var r rec
	return m.lookupView(&e.KeyHash, &r) && record.Newer(&r.e, e)
}

// report logs damage found while reading, once per file, kind and offset.
func (m *Manifest) report(p Problem) {
	if m.problems.add(p) {
		m.opts.Logf("manifest %s: damage skipped: %s", m.name, p)
	}
}

// live reports whether a resolved record is a live entry.
func (m *Manifest) live(e *record.Entry) bool {
	if e.Deleted || e.KeyHash == record.ForgetAll {
		return false
	}
	f := m.ForgottenAt(e)
	return f == 0 || e.Time > f
}

// stale reports whether the view may lack records written since it was last
// refreshed: the board moved, or FullRefresh has passed, or there is no
// board.
func (m *Manifest) stale() bool {
	if time.Now().UnixNano()-m.fullAt.Load() >= int64(m.opts.FullRefresh) || !m.seenOK.Load() {
		return true
	}
	v, ok := m.opts.Board.Load(m.topic)
	return !ok || v != m.seen.Load()
}

// removedSince reports whether an entry the view holds may have been
// removed or replaced since the view was read: the board's removal counter
// moved, or, without a board, FullRefresh has passed. It is the check on
// the hit path: one load of a mapped counter (a clock read costs 55 ns on
// some virtual machines, half a hit's budget, so it is paid only where
// there is no board).
func (m *Manifest) removedSince() bool {
	if v, ok := m.opts.Board.Load(m.rmTopic); ok && m.rmSeenOK.Load() {
		return v != m.rmSeen.Load()
	}
	return time.Now().UnixNano()-m.fullAt.Load() >= int64(m.opts.FullRefresh)
}

// updateForget recomputes the function-wide tombstone's cutoff after the
// view changed.
func (m *Manifest) updateForget() {
	at := func(h *record.KeyHash) int64 {
		var r rec
		if m.lookupView(h, &r) && r.e.Deleted {
			return r.e.Time
		}
		return 0
	}
	m.forgetT.Store(at(&record.ForgetAll))
	m.forgetU.Store(at(&record.ForgetUntyped))
	m.forgetY.Store(&map[[32]byte]int64{})
}

// lookupView resolves h over the in-memory view into best.
func (m *Manifest) lookupView(h *record.KeyHash, best *rec) bool {
	m.rw.RLock()
	defer m.rw.RUnlock()
	return m.lookupLocked(h, best)
}

// lookupLocked is lookupView with m.rw read-held by the caller.
func (m *Manifest) lookupLocked(h *record.KeyHash, best *rec) (found bool) {
	if r := m.mem[*h]; r != nil {
		*best, found = *r, true
	}
	var r rec
	for _, s := range m.segList {
		ok, err := s.lookup(h, &r)
		if err != nil {
			m.report(segProblem(s.path, 0, err))
			continue
		}
		// A record compacted from a journal this view also holds is found
		// twice, byte for byte: either copy is the entry, no need to rank
		// them (Newer encodes both to break the tie).
		if ok && (!found || !sameBytes(&r, best) && record.Newer(&r.e, &best.e)) {
			*best, found = r, true
		}
	}
	// r.raw may alias a mapping that a refresh unmaps once we let go of rw.
	best.raw = nil
	return found
}

// sameBytes reports whether a and b were read from the same bytes: one
// record, from two files.
func sameBytes(a, b *rec) bool { return len(a.raw) > 0 && bytes.Equal(a.raw, b.raw) }

// Refresh brings the in-memory view up to date with the directory (new
// files, new records at the end of journals, and files that compactions
// replaced) if it may be stale: see Options.Board.
func (m *Manifest) Refresh() error {
	if !m.stale() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	return m.refreshLocked(false)
}

// refreshAfter refreshes unless a refresh that started after generation gen
// has already completed (concurrent misses share one refresh).
func (m *Manifest) refreshAfter(gen uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	if m.refreshes.Load() > gen {
		return nil // it ran under mu, which we now hold: it is complete
	}
	return m.refreshLocked(false)
}

// Append adds entries with one write to this Manifest's journal (created on
// first use). An entry with a zero Time is stamped with the clock (in
// entries too, so the caller holds what was recorded); stamps
// from one Manifest strictly increase, so of two entries for one key in a
// batch the later one wins. The objects entries refer to must already be
// stored (durably, if the caller wants durability). A use of an entry is
// recorded with Touch.
func (m *Manifest) Append(entries ...record.Entry) error {
	if m.opts.ReadOnly {
		return ErrReadOnly
	}
	if len(entries) == 0 {
		return nil
	}
	return m.appendRecs(nil, entries)
}

// appendRecs writes uses (Touch's: written as they are) and entries
// (stamped as Append says) with one write, and compacts in the background
// when that write filled the journal.
func (m *Manifest) appendRecs(uses, entries []record.Entry) error {
	recs := make([]*rec, 0, len(uses)+len(entries))
	size := 0
	add := func(e *record.Entry) error {
		r := &rec{e: *e}
		r.e.Inline = nil // only segments that travel to a remote carry results inline
		r.e.Zstd = false // nor say where a remote keeps objects
		p, err := record.Encode(&r.e)
		if err != nil {
			return err
		}
		r.raw = p
		recs = append(recs, r)
		size += len(p) + record.MaxFrameOverhead
		return nil
	}
	for i := range uses {
		if err := add(&uses[i]); err != nil {
			return err
		}
	}
	for i := range entries {
		if entries[i].Time == 0 {
			entries[i].Time = m.stamp()
		}
		if err := add(&entries[i]); err != nil {
			return err
		}
	}
	buf := make([]byte, 0, size) // one allocation for a batch's frames
	for _, r := range recs {
		buf = record.AppendFrame(buf, r.raw)
	}
	rotated, err := m.write(buf, recs, len(uses))
	if err == nil {
		m.appended.Add(int64(len(recs)))
	}
	if rotated {
		m.compactAsync()
	}
	return err
}

// stamp returns the clock in unix nanoseconds, made strictly increasing.
func (m *Manifest) stamp() int64 {
	now := m.opts.Now().UnixNano()
	for {
		last := m.lastTime.Load()
		t := max(now, last+1)
		if m.lastTime.CompareAndSwap(last, t) {
			return t
		}
	}
}

// write appends framed records to the journal and adds them to the view;
// the first uses of them are use records (Touch), which take nothing away
// from any view (see removes). rotated reports that the journal reached its
// limit and was closed.
func (m *Manifest) write(buf []byte, recs []*rec, uses int) (rotated bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return false, ErrClosed
	}
	if m.w != nil && m.w.genOK {
		if v, ok := m.opts.Board.Load(RotateTopic); ok && v != m.w.rotateGen {
			m.retireLocked() // maintenance asked: this write starts a new journal
		}
	}
	if m.w != nil && m.w.replaced() {
		// Another file is at our journal's name now (a copy from another
		// machine: rsync without --append-verify, or cp), most likely an
		// older, shorter one. What we appended lives on in the inode we
		// hold: move it, with this write, into a new journal, so no record
		// is lost and none goes to a file nobody can read.
		old, n := m.w, m.w.count
		data, herr := old.records()
		m.retireLocked()
		if herr == nil {
			m.opts.Logf("manifest %s: journal %s was replaced by another file (copied over it?): its %d records moved to a new journal", m.name, old.path, n)
			buf = append(data, buf...)
			gen, genOK := m.opts.Board.Load(RotateTopic)
			if m.w, err = createJournal(m.d, m.dir, m.name, buf, n+len(recs), m.opts.Durable); err != nil {
				return false, err
			}
			m.w.rotateGen, m.w.genOK = gen, genOK
		}
	}
	if m.w == nil {
		gen, genOK := m.opts.Board.Load(RotateTopic) // before the journal exists: a request meanwhile rotates it
		if m.w, err = createJournal(m.d, m.dir, m.name, buf, len(recs), m.opts.Durable); err != nil {
			return false, err
		}
		m.w.rotateGen, m.w.genOK = gen, genOK
	} else if err = m.w.append(buf, len(recs), m.opts.Durable); err != nil {
		m.retireLocked()
		return false, err
	}
	st := m.journals[m.w.name]
	if st == nil {
		st = newJState(m.dir, m.w.name)
		st.fi = m.w.fi
		m.journals[m.w.name] = st
	}
	st.off, st.size = m.w.size, m.w.size
	removal := m.removes(recs[uses:])
	st.ownRecs()
	mergeInto(st.recs, recs...)
	m.rw.Lock()
	mergeInto(m.mem, recs...)
	m.rw.Unlock()
	m.updateForget()
	m.announce()
	if removal {
		m.announceRemoval()
	}
	if m.w.count >= m.opts.JournalLimit || m.w.size >= journalRoll {
		return true, m.retireLocked()
	}
	return false, nil
}

// announce bumps the function's board counter after a change this Manifest
// made; if nobody else changed anything since the view was current, the view
// stays current (it holds the change).
func (m *Manifest) announce() {
	before, ok := m.opts.Board.Load(m.topic)
	m.opts.Board.Bump(m.topic)
	if ok && m.seenOK.Load() && before == m.seen.Load() {
		m.seen.CompareAndSwap(before, before+1)
	}
}

// removes reports whether appending recs takes an entry away from readers
// whose view predates them: a tombstone, a function-wide tombstone, or a
// new result for a key the view holds with another (a refresh). A use
// record (the same entry with a later Used) takes nothing away.
func (m *Manifest) removes(recs []*rec) bool {
	var old rec
	for _, r := range recs {
		if r.e.Deleted || r.e.KeyHash == record.ForgetAll {
			return true
		}
		if m.lookupView(&r.e.KeyHash, &old) && old.e.Time != r.e.Time && !old.e.Deleted {
			return true
		}
	}
	return false
}

// announceRemoval bumps the function's removal counter, keeping this
// Manifest's view current with it if nobody else moved it meanwhile (the
// view holds the change).
func (m *Manifest) announceRemoval() {
	before, ok := m.opts.Board.Load(m.rmTopic)
	m.opts.Board.Bump(m.rmTopic)
	if ok && m.rmSeenOK.Load() && before == m.rmSeen.Load() {
		m.rmSeen.CompareAndSwap(before, before+1)
	}
}

// retireLocked closes this Manifest's journal; it becomes a dead journal.
func (m *Manifest) retireLocked() error {
	if m.w == nil {
		return nil
	}
	err := m.w.close()
	m.w = nil
	return err
}

// mergeInto adds records to a resolved map, keeping the winner per key.
func mergeInto(mem map[[32]byte]*rec, recs ...*rec) {
	for _, r := range recs {
		if old := mem[r.e.KeyHash]; old == nil || record.Newer(&r.e, &old.e) {
			mem[r.e.KeyHash] = r
		}
	}
}

// Delete appends tombstones for the given key hashes.
func (m *Manifest) Delete(hs ...record.KeyHash) error {
	es := make([]record.Entry, len(hs))
	for i, h := range hs {
		es[i] = record.Entry{KeyHash: h, Deleted: true}
	}
	return m.Append(es...)
}

// ForgetAll appends a function-wide tombstone: every entry recorded until
// now is forgotten, wherever its records are (copies from other machines
// included, if they were written before it), and no file is rewritten.
// With result types, only the entries of those types are (and those that
// recorded no type): another function of the same name with another
// result type keeps its entries.
func (m *Manifest) ForgetAll(types ...keying.Fingerprint) error {
	return m.Append(record.ForgetTypes(types...)...)
}

// Iterate refreshes the view, then calls fn with every live entry (resolved;
// tombstoned keys left out) in increasing KeyHash order. fn may call other
// methods of m. An error from fn stops the iteration and is returned.
func (m *Manifest) Iterate(fn func(record.Entry) error) error {
	if err := m.Refresh(); err != nil {
		return err
	}
	m.rw.RLock()
	mem := newSliceSource(m.mem)
	segs := append([]*segment(nil), m.segList...)
	for _, s := range segs {
		s.acquire()
	}
	m.rw.RUnlock()
	defer func() {
		for _, s := range segs {
			s.release()
		}
	}()
	srcs := []source{mem}
	for _, s := range segs {
		srcs = append(srcs, &segSource{s: s, report: m.report})
	}
	return guardFaults(func() error {
		return merge(srcs, func(r *rec) error {
			if !r.load() || !m.live(&r.e) {
				return nil
			}
			return fn(r.e)
		})
	})
}

// Compact merges the manifest's files now (see the package documentation),
// waiting for a compaction another Manifest or process is running. With full,
// every dead journal and every segment become one segment. Journals that
// live writers (including this Manifest) still hold are left alone.
func (m *Manifest) Compact(full bool) error {
	if m.opts.ReadOnly {
		return ErrReadOnly
	}
	if m.closed.Load() {
		return ErrClosed
	}
	if err := m.compaction().run(full, true); err != nil {
		return err
	}
	return m.Refresh()
}

func (m *Manifest) compaction() *compaction {
	m.mu.Lock()
	skip := ""
	if m.w != nil {
		skip = m.w.name
	}
	// What the view has read of the other journals (the one this Manifest
	// just closed above all): the compaction starts from copies of it and
	// reads only what the files hold beyond, instead of decoding every
	// record again.
	known := make(map[string]*jstate, len(m.journals))
	for name, st := range m.journals {
		if name != skip && st.off > 0 {
			known[name] = st.clone()
		}
	}
	m.mu.Unlock()
	return &compaction{
		d: m.d, name: m.name, dir: m.dir, lockName: m.lockName,
		durable: m.opts.Durable, skip: skip, report: m.report, logf: m.opts.Logf,
		retireGrace: m.opts.RetireGrace, known: known,
	}
}

// compactAsync starts a background compaction, or asks the running one to
// go again.
func (m *Manifest) compactAsync() {
	m.mu.Lock()
	m.compactAsyncLocked()
	m.mu.Unlock()
}

// compactAsyncLocked is compactAsync with m.mu held (which orders it with
// Close: once closed, nothing starts).
func (m *Manifest) compactAsyncLocked() {
	if m.opts.ReadOnly || m.closed.Load() {
		return
	}
	m.again.Store(true)
	if !m.compacting.CompareAndSwap(false, true) {
		return // the running goroutine will see again
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			// Requests made before Close are honoured: Close waits for them
			// (otherwise short-lived processes would never compact).
			for m.again.Swap(false) {
				if err := m.compaction().run(false, false); err != nil {
					m.opts.Logf("manifest: background compaction of %s: %v", m.name, err)
				}
				if err := m.Refresh(); err != nil && !errors.Is(err, ErrClosed) {
					m.opts.Logf("manifest: refresh %s after compaction: %v", m.name, err)
				}
			}
			m.compacting.Store(false)
			// A request that came after the last Swap and before the Store
			// found compacting set and relies on us: take it.
			if !m.again.Load() || !m.compacting.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// AddSegment puts a segment file, named by its content (as EncodeSegment
// names it) and read from elsewhere, into the manifest's directory; the next
// refresh reads it. A segment whose bytes do not hash to its name is refused.
func (m *Manifest) AddSegment(file string, data []byte) error {
	sum := blake3.Sum256(data)
	if layout.SegmentName(sum[:]) != file || !layout.IsSegmentName(file) {
		return fmt.Errorf("manifest: add segment %s: content hashes to %x", file, sum[:8])
	}
	if err := os.MkdirAll(m.dir, 0o777); err != nil {
		return fmt.Errorf("manifest: add segment: %w", err)
	}
	final := m.dir + string(os.PathSeparator) + file
	if fi, err := os.Lstat(final); err == nil && fi.Mode().IsRegular() {
		return nil // (anything else there is replaced by the rename)
	}
	if err := fsutil.WriteFileAtomic(m.d.Tmp(), final, data, 0o644, m.opts.Durable); err != nil {
		return fmt.Errorf("manifest: add segment: %w", err)
	}
	m.announce()
	m.fullAt.Store(0) // the next lookup that misses reads it
	return nil
}

// closeCompactRecords is the number of records from which Close compacts
// the journal it closes: a dead journal is read whole by every later
// process's first lookup (a thousand records cost a fresh process
// milliseconds), a segment only where a lookup searches it. Fewer records
// are left to the next compaction (see autoCompactJournals).
const closeCompactRecords = 64

// closeMergeRecords bounds the manifests Close merges into one segment
// (see compaction.own): merging 1<<18 records writes about 40 MB, a
// second or less on a slow disk, where a fill of a million records would
// make its Close rewrite 190 MB (6 s measured on a 2-core VM), more than a
// program expects its exit to take. Larger manifests keep their size tiers.
var closeMergeRecords = 1 << 18 // a variable for tests

// Close closes the journal (releasing its writer lock, so the journal can be
// compacted), waits for the background compaction started before it, and
// compacts when this Manifest wrote closeCompactRecords records or more,
// in its last journal or in all (unless another compaction holds the
// manifest's lock): the journal it closes becomes a segment, and when this
// Manifest wrote at least half of the manifest's records (a fill), every
// segment is merged into one (see compaction.own), so the processes after
// it open one segment instead of a size tier's worth. Then it unmaps the
// segments.
func (m *Manifest) Close() error {
	m.mu.Lock()
	if m.closed.Swap(true) {
		m.mu.Unlock()
		return nil
	}
	own := m.appended.Load()
	compact := m.w != nil && m.w.count >= closeCompactRecords || own >= closeCompactRecords
	err := m.retireLocked()
	m.mu.Unlock()
	m.wg.Wait()
	if compact && err == nil {
		c := m.compaction()
		c.own = int(own)
		if cerr := c.run(false, false); cerr != nil {
			m.opts.Logf("manifest: compaction of %s on close: %v", m.name, cerr)
		}
	}
	m.rw.Lock()
	segs := m.segList
	m.segList, m.mem = nil, nil
	m.rw.Unlock()
	later := len(segs) > 0 && fsutil.LocalFS(m.dir) // nothing this process does waits for the unmapping
	for _, s := range segs {
		s.unmapLater.Store(later)
		s.release()
	}
	m.segs = nil
	// Builders hold the only references left now, so they stop at their
	// next chunk and unmap.
	m.filters.Wait()
	if err != nil {
		return fmt.Errorf("manifest: close %s: %w", m.name, err)
	}
	return nil
}
