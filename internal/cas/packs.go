package cas

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/board"
	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/lock"
)

// DefaultPackLimit is the size below which objects go into packs: measured
// on this project's reference machine (ext4), a small object costs 60-320 µs
// as its own file (create, write, rename) and 2-50 µs appended to a pack,
// from 1 KiB to 64 KiB, while reading it back costs about the same either
// way from 16 KiB up. Larger objects stay loose files, which copy_file_range
// can clone and b3sum can check by hand.
const DefaultPackLimit = 64 << 10

// maxPack is the size at which a writer seals its pack and starts another.
// Its own pack is mapped this large from the start, so the mapping never
// moves while the pack grows.
var maxPack int64 = 64 << 20 // a variable so tests can make packs rotate

// packSet is the packs of a store as this process sees them.
type packSet struct {
	s *Store

	mu        sync.RWMutex
	packs     map[string]*pack // by file name
	sealed    []*pack          // packs with an index, searched in name order
	mem       map[ID]loc       // objects of packs without an index
	bad       map[loc]bool     // records found corrupt: never served or trusted again
	badIdx    map[string]bool  // packs whose index failed its check: read by scanning
	listed    bool             // the pack directory has been read
	loose     bool             // loose objects below the limit may exist (caches written before packs): set by looseOnce
	looseOnce sync.Once        // hasLoose looks, at the first write that asks
	wmu       sync.Mutex       // serialises appends
	w         *packWriter      // this process's pack, created on first append (set holding wmu and mu; read holding either)
	merging   sync.WaitGroup   // background merges that began (beginMerge)
	fences    sync.WaitGroup   // index fence builders (fence.go)
	mergeMu   sync.Mutex       // orders beginMerge with close
	closing   bool             // close has begun: no merge begins (mergeMu)

	// The change board's packs counter: whoever deletes packs (a merge,
	// gc's repack, a salvage) bumps it, and the hit path compares it with
	// the value the last refresh saw, so a process that only serves hits
	// still lets go of the packs deleted under it within one generation
	// instead of keeping their space allocated while it runs.
	board   atomic.Pointer[board.Board] // opened by the first refresh (nil: none yet, or none possible)
	boardMu sync.Mutex                  // serialises opening it
	seenGen atomic.Uint64               // the counter when the pack directory was last read
	seenOK  atomic.Bool                 // seenGen is valid
}

// packsTopic is the board counter bumped whenever packs are deleted.
var packsTopic = board.TopicOf("packs")

func newPackSet(s *Store) *packSet {
	return &packSet{s: s, packs: map[string]*pack{}, mem: map[ID]loc{}, bad: map[loc]bool{}}
}

// find returns where object id is, acquiring its pack (release it when
// done). It looks only at what this process has seen of the packs. A
// sealed pack's index is mapped: a fault reading it (the file truncated
// under us) is a miss, never a crash.
func (ps *packSet) find(id ID) (l loc, ok bool) {
	if b := ps.board.Load(); b != nil {
		// One load from the mapped board: packs were deleted since the
		// last listing (merged, repacked, salvaged elsewhere), so drop them
		// (unmapped once no reader holds them) and pick up their
		// replacements.
		if v, vok := b.Load(packsTopic); vok && (v != ps.seenGen.Load() || !ps.seenOK.Load()) {
			ps.refresh()
		}
	}
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	if l, ok := ps.mem[id]; ok && !ps.isBad(l) {
		l.p.acquire()
		return l, true
	}
	if len(ps.sealed) == 0 {
		return loc{}, false
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			l, ok = loc{}, false
		}
	}()
	for _, p := range ps.sealed {
		if off, size, found := p.search(ps, &id); found {
			l := loc{p: p, off: off, size: size}
			if !ps.isBad(l) {
				p.acquire()
				return l, true
			}
		}
	}
	return loc{}, false
}

// isBad reports whether the record at l was found corrupt (ps.mu held).
func (ps *packSet) isBad(l loc) bool { return len(ps.bad) > 0 && ps.bad[l] }

// markBad records that the record at l does not hold its object.
func (ps *packSet) markBad(l loc) {
	ps.mu.Lock()
	ps.bad[l] = true
	ps.mu.Unlock()
}

// get returns a copy of packed object id, verified, or ok false when no
// pack this process has seen holds it (after looking for new packs once).
func (ps *packSet) get(id ID, want int64, fn func([]byte) error) (ok bool, err error) {
	for try := 0; try < 3; try++ {
		l, found := ps.find(id)
		if !found {
			// A pack not seen yet: list them again, and look again even
			// if this listing changed nothing (another goroutine's may
			// have added the pack since our find); then check indexes.
			if try == 0 {
				ps.refresh()
				continue
			}
			if try == 1 && ps.checkIndexes() {
				continue
			}
			return false, nil
		}
		if want >= 0 && int64(l.size) != want {
			l.p.release()
			return true, corrupt(id, l.p.path, fmt.Sprintf("size %d, want %d", l.size, want))
		}
		err := l.view(id, fn)
		l.p.release()
		if errors.Is(err, ErrCorrupt) {
			ps.markBad(l) // another copy (in this process's pack, or elsewhere) may be good
			if l2, again := ps.find(id); again {
				l2.p.release() // find acquired it; the retry finds it again
				try--
				continue
			}
		}
		return true, err
	}
	return false, nil
}

// checkIndexes hashes the indexes of the sealed packs not checked yet
// (readers open them unchecked: see parseIndex), once per pack, when a
// lookup found nothing: a pack whose index is damaged is then read by
// scanning its records, as if it had no index. It reports whether one was.
func (ps *packSet) checkIndexes() bool {
	ps.mu.RLock()
	var todo []*pack
	for _, p := range ps.sealed {
		if !p.idxSum.Load() {
			p.acquire()
			todo = append(todo, p)
		}
	}
	ps.mu.RUnlock()
	changed := false
	for _, p := range todo {
		_, _, _, err := parseIndex(p.idxData, true)
		p.idxSum.Store(true)
		if err != nil {
			if np, oerr := ps.s.openPack(p.name, false); oerr == nil {
				ps.mu.Lock()
				if ps.badIdx == nil {
					ps.badIdx = map[string]bool{}
				}
				ps.badIdx[p.name] = true
				if ps.packs[p.name] == p {
					ps.dropLocked(p)
					ps.addLocked(np)
					changed = true
				} else {
					np.release()
				}
				ps.mu.Unlock()
			}
		}
		p.release()
	}
	return changed
}

// refresh reads the pack directory again: new packs, packs that grew, packs
// that are gone. It reports whether anything changed. A pack listed but
// gone when it is opened was merged away meanwhile (its objects are in a
// pack the listing may predate): the directory is read again.
func (ps *packSet) refresh() bool {
	b := ps.openBoard()
	gen, genOK := b.Load(packsTopic) // before listing: a deletion during the listing makes it stale
	defer func() {
		ps.seenGen.Store(gen)
		ps.seenOK.Store(genOK)
	}()
	changed := false
	for try := 0; try < 3; try++ {
		ch, vanished := ps.refreshOnce()
		changed = changed || ch
		if !vanished {
			break
		}
	}
	return changed
}

// openBoard maps the cache's change board if it is not yet (writable
// unless the store is read-only), and returns it; nil when it cannot be
// mapped, and then hits never look at it (a refresh happens on misses, as
// without a board).
func (ps *packSet) openBoard() *board.Board {
	if b := ps.board.Load(); b != nil {
		return b
	}
	ps.boardMu.Lock()
	defer ps.boardMu.Unlock()
	if b := ps.board.Load(); b != nil {
		return b
	}
	b := ps.s.board // the Store's (Options.Board), when it was given one
	if b == nil {
		b = board.Open(ps.s.d.Board(), !ps.s.readOnly)
	}
	if b != nil {
		ps.board.Store(b)
	}
	return b
}

// packsDeleted tells every process sharing the cache that packs were
// deleted: their hit paths refresh and let go of them.
func (ps *packSet) packsDeleted() {
	ps.openBoard().Bump(packsTopic)
}

// afterList, set by tests, runs between refresh's listing and its opening
// of what it listed.
var afterList func()

func (ps *packSet) refreshOnce() (changed, vanished bool) {
	ents, err := os.ReadDir(ps.s.d.Packs())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, false
	}
	if afterList != nil {
		afterList()
	}
	names := map[string]bool{}
	idxs := map[string]bool{}
	for _, e := range ents {
		switch n := e.Name(); {
		case e.Type().IsRegular() && layout.IsPackName(n):
			names[n] = true
		case e.Type().IsRegular() && layout.IsPackIndexName(n):
			idxs[n] = true
		}
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.listed = true
	own := ""
	if ps.w != nil {
		own = ps.w.p.name
	}
	for n, p := range ps.packs {
		if !names[n] && n != own {
			ps.dropLocked(p)
			changed = true
		}
	}
	for n := range names {
		p := ps.packs[n]
		if n == own {
			continue
		}
		if p != nil && p.sealed() {
			continue
		}
		if p != nil && !idxs[layout.PackIndexName(n)] {
			if ps.growLocked(p) {
				changed = true
			}
			continue
		}
		np, err := ps.s.openPack(n, idxs[layout.PackIndexName(n)] && !ps.badIdx[n])
		if errors.Is(err, fs.ErrNotExist) {
			vanished = true
			continue
		}
		if err != nil {
			continue // damaged: fsck reports it; its objects are misses
		}
		if p != nil {
			ps.dropLocked(p)
		}
		ps.addLocked(np)
		changed = true
	}
	return changed, vanished
}

// addLocked adds an opened pack to the set.
func (ps *packSet) addLocked(p *pack) {
	ps.packs[p.name] = p
	if p.sealed() {
		ps.sealed = append(ps.sealed, p)
		sort.Slice(ps.sealed, func(i, j int) bool { return ps.sealed[i].name < ps.sealed[j].name })
		return
	}
	n := 0
	scanRecords(p.data, headerSize, p.size.Load(), func(id ID, off int64, size uint32) bool {
		if len(ps.mem) >= maxMemRecords {
			return false
		}
		ps.mem[id] = loc{p: p, off: off, size: size}
		n++
		return n < maxUnsealedRecords
	})
}

// Bounds on what unsealed packs (those without an index: a live writer's,
// or a dead one's until the next repack) cost a reader, which scans them
// into memory. A writer seals its pack at maxPack (64 MiB), so a real one
// holds at most 64 MiB / 37 bytes of records; a planted pack of empty
// records must not make every process that looks hold millions of entries.
// Objects past a bound are misses (computed and stored again), never
// wrong.
var (
	// maxUnsealedRecords bounds the records read from one unsealed pack:
	// 2^18 (about 18 MiB of map per pack; a real pack of results of 256
	// bytes or more holds fewer).
	maxUnsealedRecords = 1 << 18
	// maxMemRecords bounds the entries of all unsealed packs of other
	// writers a process holds: 2^20 (about 70 MiB).
	maxMemRecords = 1 << 20
)

// maxIndexSize is the largest index a pack of packSize bytes can have: one
// entry per record, each record at least recHeaderSize bytes.
func maxIndexSize(packSize int64) int64 {
	return idxFixed + idxTrailer + idxEntrySize*((packSize-headerSize)/recHeaderSize+1)
}

// dropLocked forgets a pack that is gone from the directory.
func (ps *packSet) dropLocked(p *pack) {
	delete(ps.packs, p.name)
	ps.sealed = slices.DeleteFunc(ps.sealed, func(q *pack) bool { return q == p })
	for id, l := range ps.mem {
		if l.p == p {
			delete(ps.mem, id)
		}
	}
	p.release()
}

// growLocked maps and scans what another writer appended to an unsealed
// pack since it was last seen.
func (ps *packSet) growLocked(p *pack) bool {
	// Compared with the size the pack had when it was read (not with the
	// bytes found to hold records: a torn tail, or a scan cut short by
	// maxUnsealedRecords, would make every refresh read it all again).
	fi, err := os.Lstat(p.path)
	if err != nil || !os.SameFile(fi, p.fi) || fi.Size() <= p.fi.Size() {
		return false
	}
	np, err := ps.s.openPack(p.name, false)
	if err != nil {
		return false
	}
	ps.dropLocked(p)
	ps.addLocked(np)
	return true
}

// openPack maps pack name (and its index, if it has one and it fits). A
// pack whose header is damaged is still read when its index verifies:
// every record is hashed before it is served, so the header, which only
// names the format, is not needed to trust them.
func (s *Store) openPack(name string, withIndex bool) (*pack, error) {
	p, hdrErr, err := s.mapPack(name)
	if err != nil {
		return nil, err
	}
	if withIndex {
		if err := p.openIndex(s.d.Pack(layout.PackIndexName(name)), p.fi.Size(), false); err == nil {
			return p, nil
		} else if hdrErr != nil {
			p.release()
			return nil, fmt.Errorf("%s: %w (and its index: %v)", p.path, hdrErr, err)
		}
		// A damaged or foreign index: scan the pack instead.
	}
	if hdrErr != nil {
		p.release()
		return nil, fmt.Errorf("%s: %w", p.path, hdrErr)
	}
	n := 0
	end, _ := scanRecords(p.data, headerSize, p.fi.Size(), func(ID, int64, uint32) bool {
		n++
		return n < maxUnsealedRecords
	})
	p.size.Store(end)
	return p, nil
}

// mapPack maps pack name without trusting anything in it; hdrErr says
// whether its header is damaged. Maintenance reads damaged packs this way
// (every record it copies or reports is hashed).
func (s *Store) mapPack(name string) (p *pack, hdrErr, err error) {
	path := s.d.Pack(name)
	f, err := openNoFollow(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() < headerSize || fi.Size() > 1<<40 || fsutil.Hollow(fi) {
		return nil, nil, fmt.Errorf("%w: %s: not a pack file (or a sparse one)", errBadPack, path)
	}
	if !fsutil.CanMap {
		return nil, nil, errors.ErrUnsupported
	}
	data, unmap, err := fsutil.Map(f, fi.Size())
	if err != nil {
		return nil, nil, err
	}
	p = &pack{name: name, path: path, fi: fi, data: data, unmap: unmap}
	p.refs.Store(1)
	p.size.Store(fi.Size())
	return p, checkHeader(data), nil
}

// checkHeader checks the pack header at the start of data.
func checkHeader(data []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(&err)
	if string(data[:headerSize-1]) != string(packMagic[:headerSize-1]) {
		return fmt.Errorf("%w: no pack header", errBadPack)
	}
	if data[headerSize-1] != packVersion {
		return fmt.Errorf("%w: format version %d (this pcache reads %d; upgrade pcache)", errBadPack, data[headerSize-1], packVersion)
	}
	return nil
}

// ErrShortened says a pack is shorter than its index says: the pack lost
// records, most likely replaced by an older copy of itself (plain rsync -a
// or cp of a pack that grew since).
var ErrShortened = errors.New("pack shorter than its index")

var errPackShort = ErrShortened

// shortCure is what a shortened pack's report advises.
const shortCure = "; a copy replaced it with an older, shorter one and the records past its end are lost here: sync with rsync -a --append-verify (README), which never shortens a file"

// openIndex maps the index of p, which must cover the whole pack, hashing
// it against its trailer with checkSum (see parseIndex).
func (p *pack) openIndex(path string, packSize int64, checkSum bool) error {
	f, err := openNoFollow(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < idxFixed+idxTrailer || fsutil.Hollow(fi) {
		return fmt.Errorf("%w: index %s", errBadPack, path)
	}
	data, unmap, err := fsutil.Map(f, fi.Size())
	if err != nil {
		return err
	}
	if fi.Size() > maxIndexSize(packSize) {
		// Larger than any index of this pack could be: refused before it
		// is hashed (hashing a planted giant file would stall the reader).
		// An index covering more than the pack has means the pack lost
		// records: say so, naming the pack.
		covered, cerr := indexCovers(data)
		unmap()
		if cerr == nil && covered > packSize {
			return fmt.Errorf("%w: %s covers %d bytes but the pack has %d%s", errPackShort, path, covered, packSize, shortCure)
		}
		return fmt.Errorf("%w: index %s: %d bytes is more than a pack of %d bytes can need", errBadPack, path, fi.Size(), packSize)
	}
	size, _, entries, err := parseIndex(data, checkSum)
	if err != nil {
		unmap()
		return fmt.Errorf("%s: %w", path, err)
	}
	if size > packSize {
		unmap()
		return fmt.Errorf("%w: %s covers %d bytes but the pack has %d%s", errPackShort, path, size, packSize, shortCure)
	}
	p.idxData, p.idx, p.idxUnmap = data, entries, unmap
	p.idxSum.Store(checkSum)
	p.size.Store(size)
	return nil
}

// packWriter is this process's pack, open for appending.
type packWriter struct {
	p       *pack
	f       *os.File
	lock    *lock.Held
	hash    *blake3.Hasher // of the pack's bytes so far
	entries idxEntries
	size    int64
	sealGen uint64 // the SealTopic counter when the pack was started
	genOK   bool   // sealGen was read from a board
}

// SealTopic is the change-board counter maintenance moves to ask every
// running writer to seal its pack: a pack whose writer runs is never
// rewritten, so gc cannot free what sits in it until it is sealed.
var SealTopic = board.TopicOf("cas:seal-packs")

// RequestSeal asks every writer of the cache whose board b is to seal its
// pack and start a new one on its next append (best effort: a writer that
// never appends again seals when it closes its Store).
func RequestSeal(b *board.Board) { b.Bump(SealTopic) }

// sealRequested reports whether maintenance asked, since this process's
// pack was started, that it be sealed (ps.wmu held).
func (ps *packSet) sealRequested() bool {
	if ps.w == nil || !ps.w.genOK {
		return false
	}
	v, ok := ps.s.board.Load(SealTopic)
	return ok && v != ps.w.sealGen
}

// newWriter creates this process's pack: header written to a temp file and
// renamed into place (no pack exists without its header), under the pack's
// writer lock, mapped maxPack long so the mapping covers every later append.
func (s *Store) newWriter() (*packWriter, error) {
	name := layout.PackName(fsutil.Unique())
	lk, ok, err := lock.Try(s.d.PackLock(name), lock.Exclusive)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("cas: new pack %s: lock held by another writer", name)
	}
	fail := func(err error) (*packWriter, error) {
		lk.Release()
		os.Remove(s.d.PackLock(name))
		return nil, err
	}
	if err := os.MkdirAll(s.d.Packs(), 0o777); err != nil {
		return fail(fmt.Errorf("cas: new pack: %w", err))
	}
	// The pack is written through the descriptor that created it (writable
	// by its owner while it grows) and made read-only when it is sealed:
	// reopening it by path after the rename needs write permission that
	// only root has on a 0444 file, and follows whatever is there by then.
	tmp, err := createTemp(s.tmpDir, "", packWritePerm)
	if err != nil {
		return fail(fmt.Errorf("cas: new pack: create temp file in %s: %w", s.tmpDir, err))
	}
	if _, err := tmp.Write(packMagic[:]); err != nil {
		return fail(abort(tmp, "pack", err))
	}
	path := s.d.Pack(name)
	if err := fsutil.Install(tmp, path, s.durable); err != nil {
		return fail(fmt.Errorf("cas: new pack: %w", err))
	}
	f := tmp
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fail(fmt.Errorf("cas: new pack: %w", err))
	}
	data, unmap, err := fsutil.Map(f, maxPack)
	if err != nil {
		f.Close()
		return fail(fmt.Errorf("cas: map new pack: %w", err))
	}
	p := &pack{name: name, path: path, fi: fi, data: data, unmap: unmap}
	p.refs.Store(1)
	p.size.Store(headerSize)
	h := blake3.New()
	h.Write(packMagic[:])
	return &packWriter{p: p, f: f, lock: lk, hash: h, size: headerSize}, nil
}

// put appends the objects of bs that are not already stored (in a pack
// this process has seen, or, for caches written before packs, as loose
// files) with one write, and returns their IDs.
func (ps *packSet) put(bs [][]byte) ([]ID, error) {
	ids := make([]ID, len(bs))
	var todo []int
	var seen map[ID]struct{} // objects of this batch already in todo (a batch may repeat one)
	for i, b := range bs {
		ids[i] = Sum(b)
		if ps.has(ids[i]) {
			continue
		}
		if len(bs) > 1 {
			if seen == nil {
				seen = make(map[ID]struct{}, len(bs))
			}
			if _, dup := seen[ids[i]]; dup {
				continue
			}
			seen[ids[i]] = struct{}{}
		}
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return ids, nil
	}
	ps.wmu.Lock()
	defer ps.wmu.Unlock()
	if ps.sealRequested() {
		if err := ps.sealLocked(); err != nil {
			return nil, err
		}
	}
	var buf []byte
	start := 0
	for k, i := range todo {
		rec := recHeaderSize + len(bs[i])
		if ps.w != nil && ps.w.size+int64(len(buf)+rec) > maxPack {
			if err := ps.flushLocked(buf, ids, todo[start:k]); err != nil {
				return nil, err
			}
			buf, start = buf[:0], k
			if err := ps.sealLocked(); err != nil {
				return nil, err
			}
		}
		buf = appendRecord(buf, ids[i], bs[i])
	}
	if err := ps.flushLocked(buf, ids, todo[start:]); err != nil {
		return nil, err
	}
	return ids, nil
}

// has reports whether object id is stored and good: a packed copy is
// re-hashed before it is trusted (a corrupt one must be written again).
func (ps *packSet) has(id ID) bool {
	if ps.idle() {
		ps.refresh()
	}
	if l, ok := ps.find(id); ok {
		err := l.view(id, func([]byte) error { return nil })
		l.p.release()
		if err == nil {
			return true
		}
		ps.markBad(l)
	}
	if ps.hasLoose() {
		if fi, err := os.Lstat(ps.s.Path(id)); err == nil && fi.Mode().IsRegular() {
			ps.s.touchIfStale(ps.s.Path(id), fi.ModTime())
			return true
		}
	}
	return false
}

// hasLoose reports whether the objects directory holds loose-object
// subdirectories (hasLooseShards), looking once, when a write first asks:
// a process that only reads never lists the directory for it.
func (ps *packSet) hasLoose() bool {
	ps.looseOnce.Do(func() { ps.loose = hasLooseShards(ps.s.objDir) })
	return ps.loose
}

// flushLocked writes buf (the records of objects ids[todo]) at the end of
// this process's pack, creating the pack if needed.
func (ps *packSet) flushLocked(buf []byte, ids []ID, todo []int) error {
	if len(buf) == 0 {
		return nil
	}
	if ps.w == nil {
		w, err := ps.s.newWriter()
		if err != nil {
			return err
		}
		w.sealGen, w.genOK = ps.s.board.Load(SealTopic)
		ps.mu.Lock() // refresh reads ps.w under mu alone
		ps.w = w
		ps.packs[w.p.name] = w.p
		ps.mu.Unlock()
	}
	w := ps.w
	if _, err := w.f.WriteAt(buf, w.size); err != nil {
		w.f.Truncate(w.size) // cut a torn append back (best effort)
		return fmt.Errorf("cas: append to pack %s: %w", w.p.path, err)
	}
	if ps.s.durable {
		if err := fsutil.SyncData(w.f); err != nil {
			return fmt.Errorf("cas: fsync pack %s: %w", w.p.path, err)
		}
	}
	w.hash.Write(buf)
	ps.mu.Lock()
	pos := int64(0)
	for _, i := range todo {
		n := binary.LittleEndian.Uint32(buf[pos+33 : pos+37])
		l := loc{p: w.p, off: w.size + pos, size: n}
		ps.mem[ids[i]] = l
		delete(ps.bad, l)
		w.entries.add(idxEntry{id: ids[i], off: l.off, size: n})
		pos += recHeaderSize + int64(n)
	}
	w.size += int64(len(buf))
	w.p.size.Store(w.size)
	ps.mu.Unlock()
	return nil
}

// sealLocked writes the index of this process's pack and closes it; the
// next append starts a new pack.
func (ps *packSet) sealLocked() error {
	w := ps.w
	if w == nil {
		return nil
	}
	ps.mu.Lock()
	ps.w = nil
	ps.mu.Unlock()
	defer func() {
		w.f.Chmod(objectPerm) // sealed: immutable, like every object (best effort)
		w.f.Close()
		w.lock.Release()
	}()
	if w.size == headerSize {
		// Nothing was written: the pack goes.
		ps.mu.Lock()
		ps.dropLocked(w.p)
		ps.mu.Unlock()
		os.Remove(w.p.path)
		os.Remove(ps.s.d.PackLock(w.p.name))
		ps.packsDeleted()
		return nil
	}
	if ps.s.durable {
		if err := fsutil.SyncData(w.f); err != nil {
			return fmt.Errorf("cas: fsync pack %s: %w", w.p.path, err)
		}
	}
	entries := slices.CompactFunc(w.entries.sorted(), func(a, b idxEntry) bool { return a.id == b.id })
	var sum ID
	w.hash.Sum(sum[:0])
	if err := ps.s.writeIndex(w.p.name, encodeIndex(w.size, sum, entries)); err != nil {
		return err
	}
	// The pack is sealed: nobody will want its writer lock again.
	os.Remove(ps.s.d.PackLock(w.p.name))
	return nil
}

// writeIndex writes a pack's index file atomically.
func (s *Store) writeIndex(pack string, b []byte) error {
	tmp, err := s.createTemp("pack index")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		return abort(tmp, "pack index", err)
	}
	if err := fsutil.Commit(tmp, s.d.Pack(layout.PackIndexName(pack)), s.durable); err != nil {
		return fmt.Errorf("cas: write pack index: %w", err)
	}
	return nil
}

// Seal seals this process's pack now (writing its index), so maintenance
// may repack it: a pack whose writer runs is never rewritten. The next
// append starts a new pack. It is a no-op when nothing was appended.
func (s *Store) Seal() error {
	ps := s.packs
	ps.wmu.Lock()
	defer ps.wmu.Unlock()
	return ps.sealLocked()
}

// beginMerge counts a background merge in merging, unless close has begun
// (then it reports false and the merge does not run).
func (ps *packSet) beginMerge() bool {
	ps.mergeMu.Lock()
	defer ps.mergeMu.Unlock()
	if ps.closing {
		return false
	}
	ps.merging.Add(1)
	return true
}

// close seals this process's pack and lets every mapping go, after the
// background merge that began, if any (one that has not begun never will).
func (ps *packSet) close() error {
	ps.mergeMu.Lock()
	ps.closing = true
	ps.mergeMu.Unlock()
	ps.merging.Wait()
	ps.wmu.Lock()
	err := ps.sealLocked()
	ps.wmu.Unlock()
	ps.mu.Lock()
	later := len(ps.packs) > 0 && fsutil.LocalFS(ps.s.objDir) // nothing this process does waits for the unmapping
	for _, p := range ps.packs {
		p.unmapLater.Store(later)
		p.release()
	}
	ps.packs, ps.sealed, ps.mem = map[string]*pack{}, nil, map[ID]loc{}
	ps.mu.Unlock()
	ps.fences.Wait() // builders stop soon: they no longer share their pack
	ps.boardMu.Lock()
	if b := ps.board.Swap(nil); b != nil && b != ps.s.board { // the Store's board is its owner's to close
		b.Close()
	}
	ps.boardMu.Unlock()
	return err
}

// idle reports whether nothing has been read from the pack directory yet.
func (ps *packSet) idle() bool {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return !ps.listed
}
