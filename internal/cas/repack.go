package cas

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/lock"
	"github.com/pcache/pcache/internal/retire"
)

// PackInfo describes one pack as its file holds it (not as any process's
// view has it).
type PackInfo struct {
	Name    string         // file name (layout.PackName)
	Path    string         // absolute path
	Size    int64          // file size
	Valid   int64          // bytes holding complete records (less than Size: a torn tail)
	Sealed  bool           // it has a valid index
	Live    bool           // its writer is still running (on this machine)
	ModTime time.Time      // the pack file's mtime
	Objects []PackedObject // its records, in file order
	Problem string         // damage found in the pack or its index ("" if none)
	Damaged string         // the file Problem is about: Path, or the index's path
	Broken  bool           // the pack's own bytes are damaged (header, a record's framing): only check -repair (SalvagePack) rewrites it
	Retired bool           // merged into another pack, kept for a grace period (package retire): never an input again

	gone bool // vanished between listing and reading (merged away)
}

// PackedObject is one object record in a pack.
type PackedObject struct {
	ID     ID
	Offset int64 // of the record
	Size   int64 // of the object
}

// ListPacks reads every pack of the store afresh and describes it; stray
// files in the pack directory are reported through stray (relative slash
// paths, as WalkAll reports them).
//
// A pack listed but gone when it is read was merged away meanwhile (its
// objects are in a pack the listing may predate): the directory is read
// again, as refresh does, so a merge in another process is never reported
// as an unreadable pack.
func (s *Store) ListPacks(stray func(rel string, info fs.FileInfo)) ([]PackInfo, error) {
	for try := 0; ; try++ {
		out, strays, vanished, err := s.listPacksOnce()
		if err != nil {
			return nil, err
		}
		if !vanished || try == 2 {
			if stray != nil {
				for _, st := range strays {
					stray(st.rel, st.info)
				}
			}
			return out, nil
		}
	}
}

// afterPackListing, set by tests, runs between ListPacks' reading of the
// directory and its reading of the packs.
var afterPackListing func()

type strayEntry struct {
	rel  string
	info fs.FileInfo
}

// listPacksOnce reads the pack directory and describes each pack;
// vanished says a listed pack was gone when it was opened.
func (s *Store) listPacksOnce() (out []PackInfo, strays []strayEntry, vanished bool, err error) {
	ents, err := os.ReadDir(s.d.Packs())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("cas: list packs: %w", err)
	}
	if afterPackListing != nil {
		afterPackListing()
	}
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
	}
	retired, err := retire.List(s.d, isPackRel)
	if err != nil {
		return nil, nil, false, fmt.Errorf("cas: list packs: %w", err)
	}
	for _, e := range ents {
		n := e.Name()
		switch {
		case e.Type().IsRegular() && layout.IsPackName(n):
			pi := s.describePack(n, have[layout.PackIndexName(n)])
			if pi.gone {
				vanished = true
				continue
			}
			if r, ok := retired[s.d.Rel(pi.Path)]; ok && r.Size == pi.Size && r.ModTime.Equal(pi.ModTime) {
				pi.Retired = true
			}
			out = append(out, pi)
		case e.Type().IsRegular() && layout.IsPackIndexName(n) && have[strings.TrimSuffix(n, layout.PackIndexExt)+layout.PackExt]:
		default:
			if info, err := e.Info(); err == nil {
				strays = append(strays, strayEntry{layout.ObjectsDir + "/" + layout.PackDir + "/" + n, info})
			}
		}
	}
	return out, strays, vanished, nil
}

// describePack reads one pack (and its index) without trusting either. Its
// objects are the union of what a scan finds (resynchronised after damage:
// see scanResync) and what the index locates, so damage to one record, or
// to the header, never hides the records after it from check, repair or
// repack; each of them is hashed before it is copied or called good.
func (s *Store) describePack(name string, withIndex bool) (pi PackInfo) {
	pi = PackInfo{Name: name, Path: s.d.Pack(name)}
	pi.Live = s.packLive(name)
	p, hdrErr, err := s.mapPack(name)
	if errors.Is(err, fs.ErrNotExist) {
		pi.gone = true // merged away since it was listed
		return pi
	}
	if err != nil {
		pi.Problem, pi.Damaged, pi.Broken = err.Error(), pi.Path, true
		if fi, serr := os.Lstat(pi.Path); serr == nil {
			pi.Size, pi.ModTime = fi.Size(), fi.ModTime()
		}
		return pi
	}
	defer p.release()
	pi.Size, pi.ModTime = p.fi.Size(), p.fi.ModTime()
	var problems []string
	damage := func(msg string) {
		problems = append(problems, msg)
		pi.Broken = true
	}
	if hdrErr != nil {
		damage("header damaged (" + hdrErr.Error() + "); its records are read by the index and a scan")
	}
	byOff := map[int64]bool{}
	var gaps [][2]int64
	pi.Valid, gaps, _ = scanResync(p.data, headerSize, pi.Size, func(id ID, off int64, size uint32) {
		pi.Objects = append(pi.Objects, PackedObject{ID: id, Offset: off, Size: int64(size)})
		byOff[off] = true
	})
	for _, g := range gaps {
		damage(fmt.Sprintf("damaged record: bytes %d to %d are not whole records (the records after them were found again)", g[0], g[1]))
	}
	defer func() {
		pi.Problem = strings.Join(problems, "; ")
		if pi.Problem != "" && pi.Damaged == "" {
			pi.Damaged = pi.Path
		}
	}()
	if !withIndex {
		return pi
	}
	idx := s.d.Pack(layout.PackIndexName(name))
	if err := p.openIndex(idx, pi.Size, true); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			pi.gone = true // a repack deletes the index first, then the pack
			return pi
		}
		problems = append(problems, err.Error())
		pi.Damaged = idx
		if errors.Is(err, errPackShort) {
			pi.Damaged = pi.Path // the pack lost records: it is what changed
			pi.Broken = true
		}
		return pi
	}
	pi.Sealed = true
	// Records the scan did not reach but the index locates.
	missed := 0
	for i := 0; i+idxEntrySize <= len(p.idx); i += idxEntrySize {
		e := p.idx[i : i+idxEntrySize]
		off := int64(binary.BigEndian.Uint64(e[32:40]))
		if byOff[off] {
			continue
		}
		pi.Objects = append(pi.Objects, PackedObject{ID: ID(e[:32]), Offset: off, Size: int64(binary.BigEndian.Uint32(e[40:44]))})
		byOff[off] = true
		missed++
	}
	if missed > 0 {
		slices.SortFunc(pi.Objects, func(a, b PackedObject) int { return int(a.Offset - b.Offset) })
		damage(fmt.Sprintf("%d indexed records are not reachable by a scan of the pack (damage before them)", missed))
	}
	if len(problems) == 0 {
		if msg := indexMatches(p, pi); msg != "" {
			problems, pi.Damaged = append(problems, msg), pi.Path
		}
	}
	return pi
}

// indexMatches checks a sealed pack's index against its records: every
// entry names a record of that object and size, every record has an entry,
// and the pack's bytes hash to what the index recorded.
func indexMatches(p *pack, pi PackInfo) string {
	size, sum, entries, err := parseIndex(p.idxData, true)
	if err != nil {
		return err.Error()
	}
	if size != pi.Valid {
		return fmt.Sprintf("index covers %d bytes, the pack holds %d bytes of records", size, pi.Valid)
	}
	if got := ID(blake3.Sum256(p.data[:size])); got != sum {
		return "index records another content for the pack (hash mismatch)"
	}
	byOff := map[int64]PackedObject{}
	for _, o := range pi.Objects {
		byOff[o.Offset] = o
	}
	seen := map[ID]bool{}
	for i := 0; i+idxEntrySize <= len(entries); i += idxEntrySize {
		e := entries[i : i+idxEntrySize]
		id := ID(e[:32])
		o, ok := byOff[int64(binary.BigEndian.Uint64(e[32:40]))]
		if !ok || o.ID != id || o.Size != int64(binary.BigEndian.Uint32(e[40:44])) {
			return fmt.Sprintf("index entry for %s does not point at its record", id)
		}
		if i > 0 && string(entries[i-idxEntrySize:i-idxEntrySize+32]) >= string(e[:32]) {
			return "index entries out of order"
		}
		seen[id] = true
	}
	for _, o := range pi.Objects {
		if !seen[o.ID] {
			return fmt.Sprintf("record of %s at offset %d has no index entry", o.ID, o.Offset)
		}
	}
	return ""
}

// VerifyPacked hashes the record of object id at offset off of pack name:
// nil, or an error wrapping ErrCorrupt.
func (s *Store) VerifyPacked(name string, o PackedObject) error {
	p, _, err := s.mapPack(name)
	if err != nil {
		return err
	}
	defer p.release()
	return loc{p: p, off: o.Offset, size: uint32(o.Size)}.view(o.ID, func([]byte) error { return nil })
}

// RepackOptions configure Repack.
type RepackOptions struct {
	// Keep, if set, says which objects are still referenced: the others
	// are dropped from the packs Repack rewrites (gc). Without it Repack
	// only merges packs and keeps every object.
	Keep func(ID) bool
	// Grace spares packs written more recently than this from Keep: their
	// unreferenced objects may belong to writes in flight elsewhere.
	Grace time.Duration
	// Now is the clock for Grace; zero: time.Now().
	Now time.Time
	// RetireGrace is how long the packs a rewrite supersedes stay (package
	// retire) before a later Repack deletes them, so a sync copying the
	// cache meanwhile never sees them vanish. Zero: retire.Grace; negative:
	// they are deleted at once, and so is every pack retired before.
	//
	// With Keep (gc, which the user runs to get the space back) every
	// superseded pack is deleted at once, those retired before included:
	// a retired pack may hold an object Keep refuses, and a later Put must
	// never find an object only in a pack about to be deleted.
	RetireGrace time.Duration
	// Wait makes Repack wait (at most lock.MaintenanceWait) for a merge
	// another process runs, instead of returning at once having done
	// nothing; if it is still running, the error wraps ErrBusy.
	Wait bool
}

// ErrBusy is wrapped by Repack's error when another process held the repack
// lock for longer than RepackOptions.Wait allowed.
var ErrBusy = errors.New("busy")

// RepackReport says what Repack did.
type RepackReport struct {
	PacksIn, PacksOut int
	ObjectsKept       int
	ObjectsDropped    int
	BytesDropped      int64
	Duplicates        int   // copies of an object beyond the first, dropped
	DuplicateBytes    int64 // the bytes of those copies
	Corrupt           []ID  // records whose bytes do not hash to their ID, dropped
	Retired           int   // inputs kept for RetireGrace (their bytes are not freed yet)
	RetiredBytes      int64 // the size of those inputs
	Reaped            int   // packs and indexes retired earlier, deleted now
	ReapedBytes       int64 // the bytes that freed
}

// mergeMin is how many small dead packs make a merge worth it; small is
// below maxPack/4.
const mergeMin = 4

// Repack rewrites dead packs (whose writers are gone) into new ones: with
// Keep, every dead pack that holds an object Keep refuses, a duplicate or a
// corrupt record, dropping those; without, the small dead packs when there
// are mergeMin of them or any lacks an index. Each output is in place,
// sealed, before its inputs are deleted, so a reader never misses an object
// that is kept, and objects are stored once afterwards. Packs written by
// running writers are left alone. Only one Repack runs at a time per cache;
// another returns at once.
func (s *Store) Repack(opts RepackOptions) (RepackReport, error) {
	var rep RepackReport
	lk, err := s.startRepack(&opts, &rep)
	if err != nil || lk == nil {
		return rep, err
	}
	defer lk.Release()
	infos, err := s.ListPacks(nil)
	if err != nil {
		return rep, err
	}
	own := s.packs.ownName()
	var inputs []PackInfo
	var locks []*lock.Held
	defer func() {
		for _, h := range locks {
			h.Release()
		}
	}()
	small := 0
	unsealed := false
	var dead []PackInfo
	for _, pi := range infos {
		if pi.Live || pi.Name == own || pi.Broken || pi.Retired {
			continue
		}
		h, ok, err := lock.Try(s.d.PackLock(pi.Name), lock.Exclusive)
		if err != nil || !ok {
			continue // a writer started since the listing
		}
		locks = append(locks, h)
		dead = append(dead, pi)
	}
	// With Keep (gc), a dead pack holding an object another dead pack also
	// holds (caches that computed the same results, copied into each
	// other) is rewritten whatever its size: the rewrite keeps the first
	// copy that verifies and drops the others. Every copy is among the
	// inputs, so the kept one may come from any of them; a copy that does
	// not verify is never the one kept, and an input is deleted only when
	// each of its objects was copied or is dropped on purpose.
	shared := map[ID]int{}
	if opts.Keep != nil {
		for _, pi := range dead {
			for _, id := range distinctIDs(pi) {
				shared[id]++
			}
		}
	}
	for _, pi := range dead {
		prune := opts.Keep != nil && opts.Now.Sub(pi.ModTime) >= opts.Grace && s.needsPrune(pi, opts.Keep)
		if !prune && opts.Keep != nil {
			prune = slices.ContainsFunc(pi.Objects, func(o PackedObject) bool { return shared[o.ID] > 1 })
		}
		if pi.Size < maxPack/4 {
			small++
		}
		if !pi.Sealed {
			unsealed = true
		}
		if prune || !pi.Sealed || pi.Size < maxPack/4 {
			inputs = append(inputs, pi)
		}
	}
	if opts.Keep == nil && small < mergeMin && !unsealed {
		return rep, nil
	}
	if len(inputs) == 0 {
		return rep, nil
	}
	return s.rewrite(inputs, opts, rep)
}

// distinctIDs returns the objects of pi, each once.
func distinctIDs(pi PackInfo) []ID {
	ids := make([]ID, 0, len(pi.Objects))
	seen := make(map[ID]bool, len(pi.Objects))
	for _, o := range pi.Objects {
		if !seen[o.ID] {
			seen[o.ID] = true
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// needsPrune reports whether a pack holds an object keep refuses or the
// same object twice.
func (s *Store) needsPrune(pi PackInfo, keep func(ID) bool) bool {
	seen := map[ID]bool{}
	for _, o := range pi.Objects {
		if !keep(o.ID) || seen[o.ID] {
			return true
		}
		seen[o.ID] = true
	}
	return pi.Valid < pi.Size
}

// rewrite copies the objects of inputs into new packs and then deletes the
// inputs whose every object was copied, dropped on purpose or is stored
// elsewhere. An input holding a record that does not verify is kept (for
// check -repair, which moves it to lost+found) and Repack says so: nothing
// is deleted that a salvage could still want.
func (s *Store) rewrite(inputs []PackInfo, opts RepackOptions, rep RepackReport) (RepackReport, error) {
	rep.PacksIn = len(inputs)
	drop := func(pi PackInfo, o PackedObject) bool {
		return opts.Keep != nil && opts.Now.Sub(pi.ModTime) >= opts.Grace && !opts.Keep(o.ID)
	}
	if err := s.roomFor(inputs, drop); err != nil {
		return rep, err
	}
	copied, err := s.copyObjects(inputs, drop, &rep)
	if err != nil {
		return rep, err
	}
	var kept []string
	deleted := false
	for _, pi := range inputs { // rooted: no link planted in the cache leads these out of it
		if !s.allAccounted(pi, drop, copied) {
			kept = append(kept, pi.Name)
			continue
		}
		if opts.RetireGrace >= 0 && opts.Keep == nil && s.retirePack(pi) {
			rep.Retired++
			rep.RetiredBytes += pi.Size
			continue
		}
		s.d.Remove(s.d.Pack(layout.PackIndexName(pi.Name)))
		s.d.Remove(pi.Path)
		s.d.Remove(s.d.PackLock(pi.Name))
		deleted = true
	}
	if deleted {
		s.packs.packsDeleted()
	}
	s.packs.refresh()
	if len(kept) > 0 {
		return rep, fmt.Errorf("cas: repack: kept %s: %w: records in them do not verify (a check with repair salvages them)", strings.Join(kept, ", "), ErrCorrupt)
	}
	return rep, nil
}

// isPackRel reports whether a retired file's rel path is in the pack
// directory.
func isPackRel(rel string) bool {
	return strings.HasPrefix(rel, layout.ObjectsDir+"/"+layout.PackDir+"/")
}

// retirePack keeps a superseded pack and its index for the grace period
// (package retire); its lock file goes now (no writer will take it). It
// reports false when the pack could not be retired: the caller deletes it.
func (s *Store) retirePack(pi PackInfo) bool {
	now := time.Now()
	if !retire.Retire(s.d, pi.Path, now) {
		return false
	}
	// A pack without an index has nothing to retire here; an index that is
	// not retired goes with its pack (reapPacks).
	retire.Retire(s.d, s.d.Pack(layout.PackIndexName(pi.Name)), now)
	s.d.Remove(s.d.PackLock(pi.Name))
	return true
}

// reapPacks deletes the retired packs whose grace has passed (the repack
// lock is held, so none of them is being chosen as an input meanwhile) and
// tells hit-only readers to let go of them.
func (s *Store) reapPacks(opts RepackOptions, rep *RepackReport) error {
	grace := opts.RetireGrace
	if grace == 0 {
		grace = retire.Grace
	}
	if opts.Keep != nil {
		grace = 0
	}
	reaped, err := retire.Reap(s.d, max(grace, 0), opts.Now, isPackRel)
	if err != nil {
		return fmt.Errorf("cas: repack: %w", err)
	}
	for _, r := range reaped {
		rep.Reaped++
		rep.ReapedBytes += r.Size
		if n := strings.TrimPrefix(r.Rel, layout.ObjectsDir+"/"+layout.PackDir+"/"); layout.IsPackName(n) {
			// Its index goes too, retired or not (a process killed between
			// retiring the pack and its index leaves only the pack retired).
			if idx := s.d.Pack(layout.PackIndexName(n)); s.d.Remove(idx) == nil {
				retire.Forget(s.d, idx)
			}
			s.d.Remove(s.d.PackLock(n))
		}
	}
	if len(reaped) > 0 {
		s.packs.packsDeleted()
	}
	return nil
}

// ReapRetired deletes the packs a merge retired more than
// opts.RetireGrace ago (with opts.Keep: all of them), as Repack does
// first, without repacking anything.
func (s *Store) ReapRetired(opts RepackOptions) (RepackReport, error) {
	var rep RepackReport
	lk, err := s.startRepack(&opts, &rep)
	if lk != nil {
		lk.Release()
	}
	return rep, err
}

// startRepack is what Repack and ReapRetired begin with: it fills in
// opts.Now, takes the repack lock (nil, nil when another process holds it
// and opts.Wait is unset) and deletes the retired packs whose grace has
// passed. The caller releases the lock.
func (s *Store) startRepack(opts *RepackOptions, rep *RepackReport) (*lock.Held, error) {
	if s.readOnly {
		return nil, ErrReadOnly
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	lk, err := s.lockRepack(*opts)
	if err != nil || lk == nil {
		return nil, err
	}
	if err := s.reapPacks(*opts, rep); err != nil {
		lk.Release()
		return nil, err
	}
	return lk, nil
}

// lockRepack takes the repack lock: with opts.Wait for at most
// lock.MaintenanceWait (then the error wraps ErrBusy and names the holder),
// otherwise only if it is free (nil, nil when it is not).
func (s *Store) lockRepack(opts RepackOptions) (*lock.Held, error) {
	if !opts.Wait {
		lk, _, err := lock.Try(s.d.RepackLock(), lock.Exclusive)
		return lk, err
	}
	lk, err := lock.AcquireWithin(context.Background(), s.d.RepackLock(), lock.Exclusive, lock.MaintenanceWait)
	if err != nil {
		return nil, fmt.Errorf("cas: repack skipped: another process merges packs: %w: %w", ErrBusy, err)
	}
	return lk, nil
}

// freeSpace is fsSpace, replaced by tests.
var freeSpace = fsSpace

// ErrNoRoom is wrapped by Repack's error when the file system lacks the
// room for a rewrite's output plus a margin: Repack then writes nothing.
var ErrNoRoom = errors.New("not enough free space")

// roomFor fails with ErrNoRoom unless the file system has room for what
// copying inputs writes plus a margin (1/20 of the file system, between
// 1 MiB and 1 GiB), so a merge never turns "nearly full" into "full" for
// the stores that fitted before it.
func (s *Store) roomFor(inputs []PackInfo, drop func(PackInfo, PackedObject) bool) error {
	free, total, ok := freeSpace(s.d.Packs())
	if !ok {
		return nil // unknown here: the cleanup on failure still holds
	}
	var need int64
	for _, pi := range inputs {
		need += headerSize
		for _, o := range pi.Objects {
			if drop == nil || !drop(pi, o) {
				need += recHeaderSize + o.Size
			}
		}
		need += int64(len(pi.Objects)) * idxEntrySize
	}
	margin := min(max(total/20, 1<<20), 1<<30)
	if free < need+margin {
		return fmt.Errorf("cas: repack skipped: it writes up to %d bytes and keeps a margin of %d, but %s has %d bytes free: %w",
			need, margin, s.d.Packs(), free, ErrNoRoom)
	}
	return nil
}

// allAccounted reports whether every object of pi was copied, is dropped
// on purpose, or is stored as a loose object.
func (s *Store) allAccounted(pi PackInfo, drop func(PackInfo, PackedObject) bool, copied map[ID]bool) bool {
	for _, o := range pi.Objects {
		if copied[o.ID] || drop != nil && drop(pi, o) {
			continue
		}
		if fi, err := os.Lstat(s.Path(o.ID)); err == nil && fi.Mode().IsRegular() && fi.Size() == o.Size {
			continue
		}
		return false
	}
	return true
}

// copyObjects copies the objects of inputs that drop (if set) does not
// refuse, verified and each once, into new sealed packs of at most maxPack
// bytes, and returns the IDs copied. Corrupt records are counted and
// skipped. The inputs are untouched.
func (s *Store) copyObjects(inputs []PackInfo, drop func(PackInfo, PackedObject) bool, rep *RepackReport) (map[ID]bool, error) {
	seen := map[ID]bool{}
	var out *packOut
	var written []string // outputs sealed by this call
	finish := func() error {
		if out == nil {
			return nil
		}
		err := out.seal(s)
		if err == nil {
			rep.PacksOut++
			written = append(written, out.name)
		}
		out = nil
		return err
	}
	// On any error (ENOSPC most likely) nothing of this call's output
	// stays: the open temp file and the packs already sealed go, since
	// the inputs, untouched, still hold every object. A failed merge
	// never leaves a nearly full disk fuller than it found it.
	fail := func(err error) (map[ID]bool, error) {
		if out != nil {
			out.f.Close()
			s.d.Remove(out.f.Name())
			out = nil
		}
		for _, n := range written {
			s.d.Remove(s.d.Pack(layout.PackIndexName(n)))
			s.d.Remove(s.d.Pack(n))
		}
		rep.PacksOut = 0
		return nil, err
	}
	for _, pi := range inputs {
		p, _, err := s.mapPack(pi.Name) // a damaged header is no reason to lose records that verify
		if err != nil {
			continue
		}
		for _, o := range pi.Objects {
			if seen[o.ID] {
				rep.Duplicates++
				rep.DuplicateBytes += o.Size
				continue
			}
			if drop != nil && drop(pi, o) {
				rep.ObjectsDropped++
				rep.BytesDropped += o.Size
				continue
			}
			var werr error
			verr := loc{p: p, off: o.Offset, size: uint32(o.Size)}.view(o.ID, func(b []byte) error {
				if out == nil || out.size+recHeaderSize+int64(len(b)) > maxPack {
					if werr = finish(); werr != nil {
						return nil
					}
					if out, werr = s.newPackOut(); werr != nil {
						return nil
					}
				}
				werr = out.add(o.ID, b)
				return nil
			})
			if werr != nil {
				p.release()
				return fail(werr)
			}
			if verr != nil {
				rep.Corrupt = append(rep.Corrupt, o.ID)
				continue
			}
			seen[o.ID] = true
			rep.ObjectsKept++
		}
		p.release()
	}
	if err := finish(); err != nil {
		return fail(err)
	}
	return seen, nil
}

// packOut is a pack being written by Repack.
type packOut struct {
	f       *os.File
	name    string
	hash    *blake3.Hasher
	size    int64
	entries idxEntries
	buf     []byte
}

func (s *Store) newPackOut() (*packOut, error) {
	f, err := s.createTemp("repacked pack")
	if err != nil {
		return nil, err
	}
	o := &packOut{f: f, name: layout.PackName(fsutil.Unique()), hash: blake3.New(), size: headerSize}
	o.buf = append(o.buf, packMagic[:]...)
	return o, nil
}

func (o *packOut) add(id ID, b []byte) error {
	o.entries.add(idxEntry{id: id, off: o.size, size: uint32(len(b))})
	o.buf = appendRecord(o.buf, id, b)
	o.size += recHeaderSize + int64(len(b))
	if len(o.buf) >= 1<<20 {
		return o.flush()
	}
	return nil
}

func (o *packOut) flush() error {
	o.hash.Write(o.buf)
	_, err := tempWrite(o.f, o.buf)
	o.buf = o.buf[:0]
	return err
}

// seal renames the finished pack into place and writes its index.
func (o *packOut) seal(s *Store) error {
	if err := o.flush(); err != nil {
		return abort(o.f, "repacked pack", err)
	}
	if err := fsutil.Commit(o.f, s.d.Pack(o.name), s.durable); err != nil {
		return fmt.Errorf("cas: repack: %w", err)
	}
	var sum ID
	o.hash.Sum(sum[:0])
	return s.writeIndex(o.name, encodeIndex(o.size, sum, o.entries.sorted()))
}

// ownName is the name of this process's pack, or "".
func (ps *packSet) ownName() string {
	ps.wmu.Lock()
	defer ps.wmu.Unlock()
	if ps.w == nil {
		return ""
	}
	return ps.w.p.name
}

// MergeInBackground starts a Repack without Keep (a merge of small dead
// packs) on its own goroutine. Close waits for it once it has begun; one
// that has not begun by then never does, so a Close that comes first waits
// for nothing. Errors are dropped: a merge that does not happen costs
// lookups, never data.
func (s *Store) MergeInBackground() {
	if s.readOnly || s.limit == 0 {
		return
	}
	go func() {
		if !s.packs.beginMerge() {
			return
		}
		defer s.packs.merging.Done()
		if s.mergeDue(time.Now()) {
			s.Repack(RepackOptions{})
		}
	}()
}

// packLive reports whether pack name's writer runs. A writer creates its
// pack's lock before the pack and removes it once the pack is sealed: no
// lock file, no writer (and looking must not create one: gc removes them).
func (s *Store) packLive(name string) bool {
	if _, err := os.Lstat(s.d.PackLock(name)); errors.Is(err, fs.ErrNotExist) {
		return false
	}
	h, ok, _ := lock.Try(s.d.PackLock(name), lock.Shared)
	if ok {
		h.Release()
	}
	return !ok
}

// mergeDue reports whether a Repack without Keep may find work: mergeMin
// small dead packs, a dead pack without an index, or a retired pack whose
// grace has passed. It decides from the pack directory's listing, the
// pack locks and retirement records alone, so a process that opens a
// cache with nothing to merge does not read every pack's index (which
// Repack's listing does) and its Close waits for nothing.
func (s *Store) mergeDue(now time.Time) bool {
	ents, err := os.ReadDir(s.d.Pack(""))
	if err != nil {
		return false
	}
	indexed := map[string]bool{}
	for _, e := range ents {
		if layout.IsPackIndexName(e.Name()) {
			indexed[e.Name()] = true
		}
	}
	own := s.packs.ownName()
	small := 0
	for _, e := range ents {
		n := e.Name()
		if !layout.IsPackName(n) || n == own || !e.Type().IsRegular() {
			continue
		}
		if r, ok := retire.Lookup(s.d, s.d.Rel(s.d.Pack(n))); ok {
			if now.Sub(r.At) >= retire.Grace {
				return true // to reap
			}
			continue
		}
		fi, err := e.Info()
		if err != nil || s.packLive(n) {
			continue
		}
		if !indexed[layout.PackIndexName(n)] {
			return true
		}
		if fi.Size() < maxPack/4 {
			small++
		}
	}
	return small >= mergeMin
}

// VerifyPack hashes every record of pack name and returns the objects whose
// bytes do not match their IDs.
func (s *Store) VerifyPack(pi PackInfo, progress func(n int64)) (bad []PackedObject, err error) {
	p, _, err := s.mapPack(pi.Name)
	if err != nil {
		return nil, err
	}
	defer p.release()
	for _, o := range pi.Objects {
		if err := (loc{p: p, off: o.Offset, size: uint32(o.Size)}).view(o.ID, func([]byte) error { return nil }); err != nil {
			bad = append(bad, o)
		}
		if progress != nil {
			progress(recHeaderSize + o.Size)
		}
	}
	return bad, nil
}

// SalvagePack copies the good objects of a damaged dead pack (corrupt
// records, an index that does not match) into a new sealed pack and then
// moves the damaged pack and its index to lost+found, so nothing is silently
// deleted. It returns where the pack went.
func (s *Store) SalvagePack(name string) (string, error) {
	if s.readOnly {
		return "", ErrReadOnly
	}
	lk, ok, err := lock.Try(s.d.PackLock(name), lock.Exclusive)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("cas: salvage pack %s: its writer is running", name)
	}
	defer lk.Release()
	_, ierr := os.Lstat(s.d.Pack(layout.PackIndexName(name)))
	pi := s.describePack(name, ierr == nil) // the index finds records a scan cannot reach
	var rep RepackReport
	if _, err := s.copyObjects([]PackInfo{pi}, nil, &rep); err != nil {
		return "", err
	}
	if err := os.MkdirAll(s.lostDir, 0o777); err != nil {
		return "", fmt.Errorf("cas: salvage pack: %w", err)
	}
	dst := s.lostDir + string(os.PathSeparator) + name + "." + fsutil.Unique()
	if err := s.d.Rename(pi.Path, dst); err != nil { // rooted: lost+found may be a planted link
		return "", fmt.Errorf("cas: salvage pack: %w", err)
	}
	idx := s.d.Pack(layout.PackIndexName(name))
	if _, err := os.Lstat(idx); err == nil {
		s.d.Rename(idx, dst+layout.PackIndexExt)
	}
	s.d.Remove(s.d.PackLock(name))
	s.packs.packsDeleted()
	s.packs.refresh()
	return dst, nil
}
