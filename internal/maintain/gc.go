package maintain

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/lock"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// GCOptions configure PlanGC.
type GCOptions struct {
	// Grace spares unreferenced objects and temp files younger than this
	// (in-flight writes; 0 is safe too: gc holds the gc lock).
	Grace time.Duration
	// OlderThan, when positive, drops entries whose last use is older.
	// Last use is recorded by hits at most once per cas.TouchQuantum, so the
	// cutoff allows that much slack.
	OlderThan time.Duration
	// MaxSize, when positive, drops least-recently-used entries until the
	// objects the remaining entries use (each counted once) fit.
	MaxSize int64
	// Expired, when set, drops the entries it reports expired: a program's
	// pcache.Expire, which only the program knows (Store.GC passes the
	// functions its Store wrapped).
	Expired func(function string, e *record.Entry) bool
	// Now is the clock for ages; zero: time.Now().
	Now time.Time
	// Verbose lists every removal in the report's Items.
	Verbose bool
	// Progress reports the deletion of objects; nil: none.
	Progress Progress
	// Waiting, if set, is called when writers make PlanGC wait for the gc lock.
	Waiting func()
	// DryRun plans without the means to execute: it needs only read access.
	// It takes the gc lock if it can; when it cannot (a cache this user may
	// not write), it plans without it and says so in the report's Warnings,
	// since writers and a gc running meanwhile may change what is there.
	DryRun bool
}

// GCReport is a plan and, once executed, what was done.
type GCReport struct {
	Dir               string   `json:"dir"`
	DryRun            bool     `json:"dry_run"`
	EntriesEvicted    int      `json:"entries_removed"`
	EvictedOld        int      `json:"entries_older_than"`
	EvictedExpired    int      `json:"entries_expired"`
	EvictedSize       int      `json:"entries_over_max_size"`
	ObjectsRemoved    int      `json:"objects_removed"`
	BytesRemoved      int64    `json:"bytes_removed"`
	TempRemoved       int      `json:"temp_files_removed"`
	TempBytes         int64    `json:"temp_bytes_removed"`
	LocksRemoved      int      `json:"lock_files_removed"`
	Compacted         int      `json:"manifests_compacted"`
	EntriesKept       int      `json:"entries_kept"`
	ObjectsKept       int      `json:"objects_kept"`
	BytesKept         int64    `json:"bytes_kept"`
	YoungUnreferenced int      `json:"young_unreferenced_kept"`
	YoungBytes        int64    `json:"young_unreferenced_bytes"`
	MissingRefs       int      `json:"entries_with_missing_objects"`
	Evicted           []string `json:"evicted,omitempty"` // the entries dropped by -older-than and -max-size, one line each
	Items             []string `json:"items,omitempty"`   // with Verbose: one line per removal
	// Kept says why bytes gc would free were kept, one line per reason
	// (such as a pack a running writer holds, naming the process).
	Kept     []string `json:"kept,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"` // what the plan could not be sure of (a dry run without the gc lock)
	Next     []Fix    `json:"next,omitempty"`     // what fixes what the errors say, when the cache needs it
}

// GCPlan is what a collection will do. It holds the cache's gc lock from
// PlanGC until Execute or Close, so what it saw stays true.
type GCPlan struct {
	c       *Cache
	opts    GCOptions
	release func()
	store   *cas.Store
	names   []string
	evict   map[string][][32]byte
	doomed  []objFile // loose objects to delete, packed ones to repack away
	keep    func(cas.ID) bool
	live    map[string]bool // packs whose writers run
	dups    int             // objects stored more than once: the repack keeps one copy
	// looseDups are packed copies of objects also stored loose: the loose
	// copy goes once the packed one verifies.
	looseDups []packedCopy
	temps     []looseFile
	locks     []string
	Report    GCReport // the plan's numbers; Execute fills in what was done
	executed  bool
}

// PlanGC takes the cache's gc lock exclusively (writers in flight finish
// first and new ones wait), reads every manifest, and plans a collection:
//
//  1. OlderThan: drop entries not used for that long;
//  2. MaxSize: drop least-recently-used entries until the cache fits;
//  3. compact every manifest;
//  4. delete objects no remaining entry uses, stale temp files, and lock
//     files nobody holds or will take again, all only when older than Grace
//     (objects of entries dropped in steps 1-2 go at once).
//
// It fails closed: if any manifest cannot be read or has problems, it
// refuses (run Check with Repair first). The plan's Report says what would
// go; Execute does it, Close just lets the lock go (a dry run).
func (c *Cache) PlanGC(ctx context.Context, opts GCOptions) (*GCPlan, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.OlderThan < 0 || opts.MaxSize < 0 || opts.Grace < 0 {
		return nil, errors.New("gc: negative OlderThan, MaxSize or Grace")
	}
	if len(c.unsafe) > 0 {
		// Deleting while links lead elsewhere is how a gc run by root
		// empties /etc: fail closed until they are gone.
		return nil, fmt.Errorf("gc: %w", c.damaged(c.unsafeRel(), fmt.Errorf("%w: %w", ErrUnsafe, errors.Join(c.unsafe...)), ""))
	}
	store := c.store // read-only: enough for a dry run
	if !opts.DryRun {
		var err error
		if store, err = c.WritableObjects(); err != nil {
			return nil, err
		}
	}
	var warnings []string
	release, err := c.lockGC(ctx, opts.Waiting)
	if err != nil {
		if !opts.DryRun || ctx.Err() != nil {
			return nil, fmt.Errorf("take the gc lock: %w", err)
		}
		// A user who may not write the cache cannot lock it; a plan is
		// still worth seeing.
		warnings = append(warnings, fmt.Sprintf("planned without the gc lock (%v): writers or a gc running now may change what is there", err))
		release = func() {}
	}
	p := &GCPlan{c: c, opts: opts, release: release, store: store, evict: map[string][][32]byte{}}
	if err := p.plan(); err != nil {
		p.Close()
		return nil, err
	}
	p.Report.Warnings = warnings
	return p, nil
}

func (p *GCPlan) item(format string, args ...any) {
	if p.opts.Verbose {
		p.Report.Items = append(p.Report.Items, fmt.Sprintf(format, args...))
	}
}

// live is one entry gc considers keeping.
type live struct {
	name    string
	e       record.Entry
	lastUse time.Time
	objs    []cas.ID
}

// plan reads the cache and fills in the plan, phase by phase: refuse a
// damaged cache, weigh the entries, evict by age then size, sort the
// objects into kept and doomed, and list the stale temp and lock files.
func (p *GCPlan) plan() error {
	c, rep := p.c, &p.Report
	rep.Dir = c.d.Root()
	s := &gcState{p: p, evicted: map[*live]bool{}}
	if err := s.listSound(); err != nil {
		return err
	}
	s.weighEntries()
	s.evictOld()
	s.countRefs()
	s.evictOverSize()
	rep.EntriesEvicted = len(s.evicted)
	rep.EntriesKept = len(s.all) - len(s.evicted)
	s.sortObjects()
	s.reportKept()
	refcount := s.refcount
	p.keep = func(id cas.ID) bool { return refcount[id] > 0 }
	if err := p.planLeftovers(); err != nil {
		return err
	}
	rep.Compacted = len(p.names)
	rep.DryRun = true
	for _, o := range p.doomed {
		p.item("remove object %s: %s", o.rel(c.d), humanBytes(o.Size))
	}
	for _, t := range p.temps {
		p.item("remove temp %s: %s", c.d.Rel(t.Path), humanBytes(t.Size))
	}
	return nil
}

// gcState is what planning a collection carries from phase to phase.
type gcState struct {
	p        *GCPlan
	entries  map[string][]record.Entry
	objs     []objFile
	onDisk   map[cas.ID]objFile
	all      []*live        // every entry, function by function
	evicted  map[*live]bool // the entries the plan drops
	refcount map[cas.ID]int // how many kept entries use each object
	held     int            // entries over MaxSize kept: dropping them would free nothing
	// livePacks are running writers' packs holding what gc would free.
	livePacks map[string]*keptPack
}

// keptPack sums what gc would free from a running writer's pack.
type keptPack struct {
	objects int
	bytes   int64
}

// listSound reads every manifest and lists every object, refusing to go on
// when a manifest or a pack is damaged (a repair must see to it first).
func (s *gcState) listSound() error {
	p := s.p
	c := p.c
	names, err := c.Functions()
	if err != nil {
		return err
	}
	p.names = names
	for _, name := range names {
		probs, err := manifest.Check(c.d, name)
		if err != nil {
			return fmt.Errorf("refusing to collect: %w", c.damaged(c.manifestPath(name, ""), err, "manifest %s cannot be read", name))
		}
		if len(probs) > 0 {
			return fmt.Errorf("refusing to collect: %w", c.damaged(c.d.Rel(probs[0].Path), nil, "manifest %s has %s, first %s %s: %s",
				name, plural(len(probs), "problem", "problems"), probs[0].Kind, c.d.Rel(probs[0].Path), probs[0].Detail))
		}
	}
	if s.entries, err = c.entriesOf(names); err != nil {
		return fmt.Errorf("refusing to collect: %w", err)
	}
	objs, packs, _, dups, looseDups, err := c.objectsAndCopies()
	if err != nil {
		return fmt.Errorf("refusing to collect: %w", err)
	}
	p.looseDups = looseDups
	for _, pi := range packs {
		// A repack of a damaged pack would keep only what it can read and
		// delete the rest: salvage first (it keeps every record that
		// verifies and moves the pack to lost+found).
		if pi.Broken && !pi.Live {
			return fmt.Errorf("refusing to collect: %w", c.damaged(c.d.Rel(pi.Damaged), nil, "pack %s is damaged: %s", c.d.Rel(pi.Damaged), pi.Problem))
		}
	}
	p.dups = dups
	s.objs = objs
	s.onDisk = make(map[cas.ID]objFile, len(objs))
	for _, o := range objs {
		s.onDisk[o.ID] = o
	}
	return nil
}

// weighEntries notes each entry's objects and last use (a hit refreshes a
// loose result's mtime) and counts the entries missing an object.
func (s *gcState) weighEntries() {
	rep := &s.p.Report
	for _, name := range s.p.names {
		for _, e := range s.entries[name] {
			l := &live{name: name, e: e, lastUse: entryTime(e.LastUse())}
			for id := range ObjectsOf(name, e) {
				l.objs = append(l.objs, id)
			}
			// A loose result object's mtime is a use too (hits refresh it).
			if o, ok := s.onDisk[e.Result]; ok && o.ModTime.After(l.lastUse) {
				l.lastUse = o.ModTime
			}
			for _, id := range l.objs {
				if _, ok := s.onDisk[id]; !ok {
					rep.MissingRefs++
					break
				}
			}
			s.all = append(s.all, l)
		}
	}
}

// evictOne drops an entry from the plan, saying why in the report.
func (s *gcState) evictOne(l *live, why string) {
	s.evicted[l] = true
	s.p.evict[l.name] = append(s.p.evict[l.name], l.e.KeyHash)
	s.p.Report.Evicted = append(s.p.Report.Evicted, fmt.Sprintf("%s %s: %s", l.name, ShortHash(l.e.KeyHash), why))
}

// evictOld drops the entries opts.Expired says have expired, and (with
// OlderThan) those not used for that long.
func (s *gcState) evictOld() {
	opts := s.p.opts
	if opts.Expired != nil {
		for _, l := range s.all {
			if opts.Expired(l.name, &l.e) {
				s.evictOne(l, "expired: stored "+formatTime(time.Unix(0, l.e.Time)))
				s.p.Report.EvictedExpired++
			}
		}
	}
	if opts.OlderThan <= 0 {
		return
	}
	cutoff := opts.Now.Add(-opts.OlderThan - cas.TouchQuantum)
	for _, l := range s.all {
		if !s.evicted[l] && l.lastUse.Before(cutoff) {
			s.evictOne(l, "last used "+formatTime(l.lastUse))
			s.p.Report.EvictedOld++
		}
	}
}

// countRefs counts how many of the entries kept so far use each object.
func (s *gcState) countRefs() {
	s.refcount = map[cas.ID]int{}
	for _, l := range s.all {
		if !s.evicted[l] {
			for _, id := range l.objs {
				s.refcount[id]++
			}
		}
	}
}

// evictOverSize drops (with MaxSize) least-recently-used entries until the
// objects the rest use fit, keeping those whose dropping frees nothing.
func (s *gcState) evictOverSize() {
	opts, rep := s.p.opts, &s.p.Report
	if opts.MaxSize <= 0 {
		return
	}
	var total int64
	for id := range s.refcount {
		total += s.onDisk[id].Size
	}
	lru := make([]*live, 0, len(s.all))
	for _, l := range s.all {
		if !s.evicted[l] {
			lru = append(lru, l)
		}
	}
	sort.SliceStable(lru, func(i, j int) bool {
		if !lru[i].lastUse.Equal(lru[j].lastUse) {
			return lru[i].lastUse.Before(lru[j].lastUse)
		}
		return lru[i].e.Time < lru[j].e.Time
	})
	for _, l := range lru {
		if total <= opts.MaxSize {
			break
		}
		if s.unfreeable(l) {
			s.held++
			continue
		}
		s.evictOne(l, fmt.Sprintf("least recently used (%s) over the size limit", formatTime(l.lastUse)))
		rep.EvictedSize++
		for _, id := range l.objs {
			s.refcount[id]--
			if s.refcount[id] == 0 {
				delete(s.refcount, id)
				total -= s.onDisk[id].Size
			}
		}
	}
}

// unfreeable says whether every object of an entry sits in running
// writers' packs: dropping it frees nothing (those packs are never
// rewritten), so it is kept, and the report says why, rather than
// tombstoned for nothing.
func (s *gcState) unfreeable(l *live) bool {
	for _, id := range l.objs {
		if o, ok := s.onDisk[id]; ok && (o.Pack == "" || !s.p.livePack(o.Pack)) {
			return false
		}
	}
	return len(l.objs) > 0
}

// sortObjects sorts every object into kept (used, young, or in a running
// writer's pack) and doomed, and sums each up in the report.
func (s *gcState) sortObjects() {
	p, opts, rep := s.p, s.p.opts, &s.p.Report
	evictedObj := map[cas.ID]bool{}
	for l := range s.evicted {
		for _, id := range l.objs {
			evictedObj[id] = true
		}
	}
	s.livePacks = map[string]*keptPack{}
	for _, o := range s.objs {
		if s.refcount[o.ID] > 0 {
			rep.ObjectsKept++
			rep.BytesKept += o.Size
			continue
		}
		if opts.Now.Sub(o.ModTime) < opts.Grace && !evictedObj[o.ID] {
			rep.YoungUnreferenced++
			rep.YoungBytes += o.Size
			continue
		}
		if o.Pack != "" && p.livePack(o.Pack) {
			rep.ObjectsKept++ // a running writer's pack is never rewritten
			rep.BytesKept += o.Size
			kp := s.livePacks[o.Pack]
			if kp == nil {
				kp = &keptPack{}
				s.livePacks[o.Pack] = kp
			}
			kp.objects++
			kp.bytes += o.Size
			continue
		}
		p.doomed = append(p.doomed, o)
		rep.ObjectsRemoved++
		rep.BytesRemoved += o.Size
	}
}

// reportKept says why what running writers' packs hold is kept and, unless
// this is a dry run, asks those writers to seal their packs.
func (s *gcState) reportKept() {
	c, opts, rep := s.p.c, s.p.opts, &s.p.Report
	held := s.held
	asked := (len(s.livePacks) > 0 || held > 0) && !opts.DryRun
	if asked {
		// Ask those writers to seal their packs (they do on their next
		// append, after this gc), so the next gc can repack them.
		cas.RequestSeal(c.ManifestOptions().Board)
	}
	for _, name := range sortedKeys(s.livePacks) {
		kp := s.livePacks[name]
		who := liveHolder(c.d.PackLock(name))
		if who == "" {
			who = "a running writer"
		}
		why := "; gc frees them once that process has sealed it (on closing its cache, or when asked by a gc that is not a dry run)"
		if asked {
			why = "; asked it to seal the pack on its next write, after which the next gc frees them (or once it has closed its cache)"
		}
		rep.Kept = append(rep.Kept, fmt.Sprintf("%s: %s no entry uses (%s) kept: the pack is in use by %s and is never rewritten while it runs%s",
			c.d.Rel(c.d.Pack(name)), plural(kp.objects, "object", "objects"), humanBytes(kp.bytes), who, why))
	}
	if held > 0 {
		why := ""
		if asked {
			why = "; asked the writers to seal their packs on their next write, after which the next gc frees them (or once they have closed their caches)"
		}
		rep.Kept = append(rep.Kept, fmt.Sprintf("%s over the size limit kept: every object %s uses sits in a running writer's pack, so dropping %s would free nothing%s",
			plural(held, "entry", "entries"), pick(held, "it", "they"), pick(held, "it", "them"), why))
	}
}

// planLeftovers lists the temp files and the key, journal and pack lock
// files older than Grace that nothing will use again.
func (p *GCPlan) planLeftovers() error {
	c, opts, rep := p.c, p.opts, &p.Report
	temps, err := scanFlat(c.d.Tmp())
	if err != nil {
		return err
	}
	for _, t := range temps {
		if !t.IsDir && opts.Now.Sub(t.ModTime) >= opts.Grace {
			p.temps = append(p.temps, t)
			rep.TempRemoved++
			rep.TempBytes += t.Size
		}
	}
	if p.locks, err = c.staleKeyLocks(opts.Now, opts.Grace); err != nil {
		return err
	}
	journalLocks, err := c.staleJournalLocks(opts.Now, opts.Grace)
	if err != nil {
		return err
	}
	p.locks = append(p.locks, journalLocks...)
	packLocks, err := c.stalePackLocks(opts.Now, opts.Grace)
	if err != nil {
		return err
	}
	p.locks = append(p.locks, packLocks...)
	rep.LocksRemoved = len(p.locks)
	return nil
}

// Close lets go of the gc lock without doing anything (after Execute it
// does nothing). The Report then describes a dry run.
func (p *GCPlan) Close() {
	if p.release != nil {
		p.release()
		p.release = nil
	}
}

// Execute carries out the plan, in the order that never loses what a reader
// could use: drop entries (tombstones) first, then compact, then delete
// what nothing references any more. It returns the report and lets the lock
// go. A plan executes once.
func (p *GCPlan) Execute(ctx context.Context) (*GCReport, error) {
	defer p.Close()
	if p.executed || p.release == nil {
		return nil, errors.New("gc: plan already executed or closed")
	}
	if p.opts.DryRun {
		return nil, errors.New("gc: a dry-run plan cannot be executed")
	}
	p.executed = true
	rep := &p.Report
	rep.DryRun = false
	rep.Items = nil
	rep.ObjectsRemoved, rep.BytesRemoved, rep.TempRemoved, rep.TempBytes, rep.LocksRemoved, rep.Compacted = 0, 0, 0, 0, 0, 0
	if err := p.dropEntries(); err != nil {
		return rep, err
	}
	if err := p.compactManifests(ctx); err != nil {
		return rep, err
	}
	p.dropLooseCopies(rep) // before the repack renames the packs it names
	packed := p.repack()
	if err := p.removeObjects(ctx, packed); err != nil {
		return rep, err
	}
	p.removeTemps()
	p.removeLocks()
	return rep, nil
}

// dropEntries writes the tombstones of the entries the plan evicts.
func (p *GCPlan) dropEntries() error {
	for _, name := range sortedKeys(p.evict) {
		if err := p.c.deleteEntries(name, p.evict[name]); err != nil {
			// Without the tombstones the objects are still needed.
			return fmt.Errorf("drop entries of %s: %w", name, err)
		}
	}
	return nil
}

// compactManifests compacts every manifest; it fails only when ctx is done
// (a manifest that cannot be compacted is an error in the report).
func (p *GCPlan) compactManifests(ctx context.Context) error {
	c, rep := p.c, &p.Report
	for _, name := range p.names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.compact(name); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("compact %s: %v", c.manifestPath(name, ""), err))
			continue
		}
		rep.Compacted++
	}
	return nil
}

// repack rewrites the packs without the doomed packed objects (and
// duplicate copies), or else only removes the packs a merge retired. It
// returns how many doomed objects are packed.
func (p *GCPlan) repack() (packed int) {
	rep := &p.Report
	// Packed objects: rewrite the dead packs without what nothing uses.
	var packedBytes int64
	for _, o := range p.doomed {
		if o.Pack != "" {
			packed++
			packedBytes += o.Size
		}
	}
	// The repack also removes every pack a program's merge retired (kept
	// for syncs in progress): gc deletes what it supersedes at once.
	ropts := cas.RepackOptions{Keep: p.keep, Grace: p.opts.Grace, Now: p.opts.Now, Wait: true}
	var rr cas.RepackReport
	var rerr error
	if packed > 0 || p.dups > 0 { // duplicates too: check's hint says gc keeps one copy
		rr, rerr = p.store.Repack(ropts)
	} else {
		rr, rerr = p.store.ReapRetired(ropts)
	}
	if rerr != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("repack: %v", rerr))
		if errors.Is(rerr, cas.ErrCorrupt) { // packs kept for a salvage
			rep.Next = append(rep.Next, FixRepair)
		}
	}
	rep.ObjectsRemoved += rr.ObjectsDropped
	if rr.PacksIn > 0 {
		rep.BytesRemoved += rr.BytesDropped + rr.DuplicateBytes
		p.item("repack: %d packs into %d, %d objects dropped (%s), %d duplicate copies dropped (%s freed)", rr.PacksIn, rr.PacksOut, rr.ObjectsDropped, humanBytes(rr.BytesDropped), rr.Duplicates, humanBytes(rr.DuplicateBytes))
	}
	if rr.Reaped > 0 {
		rep.BytesRemoved += rr.ReapedBytes
		p.item("remove %s a merge retired (their objects are in the merged packs): %s", plural(rr.Reaped, "pack file", "pack files"), humanBytes(rr.ReapedBytes))
	}
	return packed
}

// removeObjects deletes the doomed loose objects (the repack saw to the
// packed ones); it fails only when ctx is done.
func (p *GCPlan) removeObjects(ctx context.Context, packed int) error {
	rep := &p.Report
	bar := StartProgress(p.opts.Progress, "removing objects", int64(len(p.doomed)-packed), false)
	for _, o := range p.doomed {
		if err := ctx.Err(); err != nil {
			bar.Done()
			return err
		}
		if o.Pack != "" {
			continue
		}
		bar.Add(1)
		if err := p.store.Delete(o.ID); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, cas.ErrNotFound) {
			rep.Errors = append(rep.Errors, fmt.Sprintf("remove %s: %v", o.rel(p.c.d), err))
			continue
		}
		rep.ObjectsRemoved++
		rep.BytesRemoved += o.Size
		p.item("remove object %s: %s", o.rel(p.c.d), humanBytes(o.Size))
	}
	bar.Done()
	return nil
}

// removeTemps deletes the stale temp files.
func (p *GCPlan) removeTemps() {
	c, rep := p.c, &p.Report
	for _, t := range p.temps {
		if err := c.d.Remove(t.Path); err != nil { // rooted: a planted tmp/ link leads nowhere
			rep.Errors = append(rep.Errors, fmt.Sprintf("remove %s: %v", c.d.Rel(t.Path), err))
			continue
		}
		rep.TempRemoved++
		rep.TempBytes += t.Size
		p.item("remove temp %s: %s", c.d.Rel(t.Path), humanBytes(t.Size))
	}
}

// removeLocks deletes the stale lock files nobody holds.
func (p *GCPlan) removeLocks() {
	c, rep := p.c, &p.Report
	for _, path := range p.locks {
		removed, err := lock.RemoveIfFree(path)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("remove %s: %v", c.d.Rel(path), err))
			continue
		}
		if removed {
			rep.LocksRemoved++
			p.item("remove lock %s", c.d.Rel(path))
		}
	}
}

// dropLooseCopies deletes the loose copy of each object also stored in a
// pack, once the packed copy verifies (a copy that does not is never the
// one kept), so check's hint that gc keeps one copy holds for them too. An
// object gc removes anyway is left to that step.
func (p *GCPlan) dropLooseCopies(rep *GCReport) {
	doomed := make(map[cas.ID]bool, len(p.doomed))
	for _, o := range p.doomed {
		doomed[o.ID] = true
	}
	for _, d := range p.looseDups {
		id := d.Object.ID
		if doomed[id] || p.store.VerifyPacked(d.Pack, d.Object) != nil {
			continue
		}
		rel := layout.ObjectRel(id)
		fi, err := os.Lstat(p.store.Path(id))
		if err != nil {
			rel = layout.CompressedObjectRel(id) // the loose copy is compressed
			fi, err = os.Lstat(p.store.ZstPath(id))
		}
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := p.store.Delete(id); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("remove %s: %v", rel, err))
			continue
		}
		rep.ObjectsRemoved++
		rep.BytesRemoved += fi.Size()
		p.item("remove object %s: %s (also stored in pack %s)", rel, humanBytes(fi.Size()), d.Pack)
	}
}

// livePack reports whether a pack's writer is running.
func (p *GCPlan) livePack(name string) bool {
	if p.live == nil {
		p.live = map[string]bool{}
		infos, _ := p.store.ListPacks(nil)
		for _, pi := range infos {
			p.live[pi.Name] = pi.Live
		}
	}
	return p.live[name]
}

func (c *Cache) compact(name string) error {
	opts := c.ManifestOptions()
	opts.RetireGrace = -1 // gc frees what it compacts at once
	m, err := manifest.Open(c.d, name, opts)
	if err != nil {
		return err
	}
	if err := m.Compact(true); err != nil {
		m.Close()
		return err
	}
	return m.Close()
}

// staleKeyLocks lists per-key lock files older than grace. Only these and
// the locks of journals that are gone are ever removed: gc.lock, gc.intent
// and keys.ofd are permanent.
func (c *Cache) staleKeyLocks(now time.Time, grace time.Duration) ([]string, error) {
	root := c.d.KeyLocks()
	shards, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scan key locks: %w", err)
	}
	var out []string
	for _, sh := range shards {
		if !sh.IsDir() || !layout.IsLowerHex(sh.Name(), 2) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, sh.Name()))
		if err != nil {
			continue
		}
		for _, f := range files {
			if !f.Type().IsRegular() || !strings.HasSuffix(f.Name(), layout.LockExt) || !layout.IsLowerHex(strings.TrimSuffix(f.Name(), layout.LockExt), 62) {
				continue
			}
			info, err := f.Info()
			if err != nil || now.Sub(info.ModTime()) < grace {
				continue
			}
			out = append(out, filepath.Join(root, sh.Name(), f.Name()))
		}
	}
	return out, nil
}

// stalePackLocks lists the writer lock files of packs that are sealed (no
// writer appends to a sealed pack again) or gone, older than grace. A
// writer takes its pack's lock before it creates the pack and holds it
// until it seals it, so RemoveIfFree skips a pack being written, and its
// lock file is younger than grace while the pack does not exist yet.
func (c *Cache) stalePackLocks(now time.Time, grace time.Duration) ([]string, error) {
	root := c.d.PackLocks()
	files, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scan pack locks: %w", err)
	}
	var out []string
	for _, f := range files {
		name := strings.TrimSuffix(f.Name(), layout.LockExt)
		if !f.Type().IsRegular() || name == f.Name() || !layout.IsPackName(name) {
			continue
		}
		info, err := f.Info()
		if err != nil || now.Sub(info.ModTime()) < grace {
			continue
		}
		_, perr := os.Lstat(c.d.Pack(name))
		_, ierr := os.Lstat(c.d.Pack(layout.PackIndexName(name)))
		if errors.Is(perr, fs.ErrNotExist) || ierr == nil {
			out = append(out, filepath.Join(root, f.Name()))
		}
	}
	return out, nil
}

// staleJournalLocks lists the writer lock files of journals that no longer
// exist (left by writers that crashed or whose journals were compacted away)
// and are older than grace. Journal names are unique, so no writer will ever
// want such a lock again; a writer creating its journal right now holds its
// lock (RemoveIfFree skips it) and its lock file is younger than grace.
func (c *Cache) staleJournalLocks(now time.Time, grace time.Duration) ([]string, error) {
	root := c.d.JournalLocks()
	files, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scan journal locks: %w", err)
	}
	live := map[string]bool{}
	err = filepath.WalkDir(c.d.Manifests(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && layout.IsJournalName(d.Name()) {
			live[d.Name()] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan journals: %w", err)
	}
	var out []string
	for _, f := range files {
		journal, ok := strings.CutSuffix(f.Name(), layout.LockExt)
		if !ok || !f.Type().IsRegular() || !layout.IsJournalName(journal) || live[journal] {
			continue
		}
		info, err := f.Info()
		if err != nil || now.Sub(info.ModTime()) < grace {
			continue
		}
		out = append(out, filepath.Join(root, f.Name()))
	}
	return out, nil
}

func pick(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
