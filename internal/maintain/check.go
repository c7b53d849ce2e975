package maintain

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// Severities of a finding. Errors make a cache unclean; hints never do.
const (
	SevError = "error"
	SevHint  = "hint"
)

// Finding kinds, in git fsck's vocabulary where it has a word. Manifest
// findings use the kind manifest.Check reports.
const (
	KindMissing      = "missing"       // an entry references an object that is not there
	KindSizeMismatch = "size-mismatch" // the object's size differs from the entry's record
	KindHashMismatch = "hash-mismatch" // the object's bytes do not hash to its name
	KindUnreadable   = "unreadable"    // a manifest or object could not be read at all
	KindStray        = "stray"         // a file among the objects that is not an object
	KindCorrupt      = "corrupt"       // an object's name holds a link, directory or device, not a file
	KindDangling     = "dangling"      // an object no live entry references (hint: gc removes it)
	KindStaleTemp    = "stale-temp"    // a temp file older than the grace period (hint: gc removes it)
	KindQuarantined  = "quarantined"   // files kept in lost+found by an earlier repair (hint)
	KindBadPack      = "bad-pack"      // a pack's header or index is damaged, or does not match its records
	KindTornPack     = "torn-pack"     // a pack whose writer is gone ends inside a record (hint: an interrupted append; gc repacks it)
	KindDuplicate    = "duplicate"     // an object stored more than once (hint: gc keeps one)
	KindBadMarker    = "bad-marker"    // pcache.json is damaged or missing in a directory that is otherwise a cache
	KindPlanted      = "planted"       // a link or special file where the cache keeps a directory: nothing is followed there
)

// Finding is one problem (or hint) found by Check, printed as
// "<kind> <path>: <detail>".
type Finding struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Path     string `json:"path"` // relative to the cache directory when inside it
	Detail   string `json:"detail"`
}

func (f Finding) String() string { return f.Kind + " " + f.Path + ": " + f.Detail }

// CheckReport is everything Check found (and, with Repair, did).
type CheckReport struct {
	Dir         string        `json:"dir"`
	Functions   int           `json:"functions"`
	Entries     int           `json:"entries"`
	Objects     int           `json:"objects"`
	ObjectBytes int64         `json:"object_bytes"`
	HashedBytes int64         `json:"hashed_bytes"`
	Seconds     float64       `json:"seconds"`
	Errors      int           `json:"errors"`
	Hints       int           `json:"hints"`
	Findings    []Finding     `json:"findings"`
	Next        []Fix         `json:"next,omitempty"` // what fixes what was found, in order
	Repair      *RepairReport `json:"repair,omitempty"`
	Warnings    []string      `json:"warnings,omitempty"`
	Clean       bool          `json:"clean"` // no errors (hints allowed)

	hintLines map[string]int // hints found per kind
}

// maxHintLines caps how many findings of one hint kind are listed; the rest
// are summed up in one line (after an rm of a big function, gc's work would
// otherwise print a line per object).
const maxHintLines = 1000

func (r *CheckReport) add(sev, kind, path, detail string) {
	if sev == SevError {
		r.Errors++
	} else {
		r.Hints++
		if r.hintLines == nil {
			r.hintLines = map[string]int{}
		}
		r.hintLines[kind]++
		if r.hintLines[kind] > maxHintLines {
			return
		}
	}
	r.Findings = append(r.Findings, Finding{Kind: kind, Severity: sev, Path: path, Detail: detail})
}

// summarizeHints adds one line per hint kind whose findings were capped.
func (r *CheckReport) summarizeHints() {
	for _, kind := range sortedKeys(r.hintLines) {
		if n := r.hintLines[kind]; n > maxHintLines {
			r.Findings = append(r.Findings, Finding{Kind: kind, Severity: SevHint, Path: "...",
				Detail: fmt.Sprintf("%d more not listed", n-maxHintLines)})
		}
	}
}

// checkState is what repair needs from a check besides the report.
type checkState struct {
	names    []string
	damaged  []string    // functions whose manifest files have problems
	corrupt  []cas.ID    // objects whose bytes do not match their name
	badZst   []cas.ID    // compressed objects that do not decode to their name (the raw file may be good)
	zst      bool        // some loose object is stored compressed: the marker must say so
	raise    bool        // the marker names a layout before compression: repair raises it
	strays   []looseFile // files in objects/ or a manifest directory that do not belong there
	newer    []string    // manifest files written by a newer pcache: left alone
	dangling int64       // bytes of dangling objects
	objects  map[cas.ID]objFile
	packs    []string // damaged packs: salvaged by repair
	// livePacks are damaged packs whose writers run: repair cannot touch
	// them and says so.
	livePacks []string
}

// CheckOptions configure Check.
type CheckOptions struct {
	Repair   bool          // fix what is found (under the exclusive gc lock)
	Grace    time.Duration // temp files younger than this are in-flight writes, not findings
	Workers  int           // hash workers; 0: one per core
	Now      time.Time     // the clock for ages; zero: time.Now()
	Progress Progress      // nil: no progress
	// Phase, if set, is told the name of each phase as it starts.
	Phase func(name string)
	// Waiting, if set, is called when writers make Check wait for the gc lock.
	Waiting func()

	afterListing func() // runs once everything is listed, before hashing
}

// Check verifies every object hash, every manifest record and every
// reference, in phases (manifests, references, objects), and with Repair
// fixes what it can: it rewrites damaged manifest files from their good
// records, moves corrupt objects and stray files to lost+found, and drops the
// entries whose objects are missing or corrupt, so their next call
// recomputes. Nothing is silently deleted. The report's Clean says whether
// the cache is clean (hints allowed) afterwards; Warnings lists what Check
// could not do (such as taking the gc lock of a read-only cache).
func (c *Cache) Check(ctx context.Context, opts CheckOptions) (*CheckReport, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	// Check lists manifests and objects under the exclusive gc lock so that
	// writers in flight do not show up as missing objects; it releases the
	// lock before the long hashing phase. Repair keeps it to the end.
	// Links planted where the cache keeps its own directories go first:
	// nothing (not even the gc lock) is opened through them.
	var planted *RepairReport
	if opts.Repair && len(c.unsafe) > 0 {
		planted = &RepairReport{Actions: []RepairAction{}}
		removed, err := c.removePlanted()
		for _, r := range removed {
			planted.do("removed", r, "a planted link or file where the cache keeps a directory or a lock file (what it pointed at is untouched)")
		}
		if err != nil {
			return nil, fmt.Errorf("remove what was planted: %w", err)
		}
		c.unsafe = c.d.CheckOwnDirs(true)
	}
	lock := c.lockGC
	if len(c.unsafe) > 0 {
		lock = func(context.Context, func()) (func(), error) { return nil, ErrUnsafe } // report them, open nothing
	}
	release, err := lock(ctx, opts.Waiting)
	var warnings []string
	if err != nil {
		if opts.Repair || ctx.Err() != nil {
			return nil, fmt.Errorf("take the gc lock: %w", err)
		}
		// A read-only cache cannot be locked; check it anyway.
		warnings = append(warnings, fmt.Sprintf("checking without the gc lock: %v", err))
		release = func() {}
	}
	defer func() { release() }()
	if !opts.Repair {
		unlocked := false
		opts.afterListing = func() {
			if !unlocked {
				release()
				release = func() {}
				unlocked = true
			}
		}
	}
	rep, st, err := c.check(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if planted == nil {
			return
		}
		if rep.Repair == nil {
			rep.Repair = planted
		} else {
			rep.Repair.Actions = append(planted.Actions, rep.Repair.Actions...)
		}
	}()
	rep.Warnings = warnings
	rep.Clean = rep.Errors == 0
	if opts.Repair && rep.Errors > 0 {
		rr, err := c.repair(ctx, st)
		rep.Repair = rr
		if err != nil {
			return rep, err
		}
		rep.Clean = rr.Failed == 0
		switch {
		case len(rr.Live) > 0:
			// A check now would find the same damage: what fixes it is
			// this repair again, once those writers have closed their
			// caches (the "kept" lines name them).
			rep.Next = []Fix{FixRepair}
		default:
			rep.Next = []Fix{FixCheck}
		}
	}
	return rep, nil
}

// testAfterListing, set by tests, runs once check has listed everything
// and before it reads the packs (another process merging packs there).
var testAfterListing func()

// check runs the phases and returns the findings. opts.afterListing, if set,
// runs once everything is listed and before objects are hashed.
func (c *Cache) check(ctx context.Context, opts CheckOptions) (*CheckReport, *checkState, error) {
	began := time.Now()
	dir := c.d.Root()
	r := &checkRun{c: c, opts: opts, rep: &CheckReport{Dir: dir, Findings: []Finding{}}, st: &checkState{}}
	rep, st := r.rep, r.st

	if c.marker != nil {
		rep.add(SevError, KindBadMarker, layout.MarkerFile, strings.TrimPrefix(c.marker.Error(), dir+": "))
	}
	if len(c.unsafe) > 0 {
		// Walking on would list (and a repair would move) whatever the
		// planted links point at: report them alone.
		c.checkUnsafe(rep)
		rep.Seconds = time.Since(began).Seconds()
		return rep, st, nil
	}

	// Phase 1: manifests.
	r.phase("checking manifests")
	if err := r.checkManifests(); err != nil {
		return nil, nil, err
	}

	// Phase 2: references. Entries of a manifest that cannot be read at all
	// are skipped (already reported); their objects will look dangling.
	r.phase("checking references")
	r.readEntries()
	if err := r.listFiles(); err != nil {
		return nil, nil, err
	}
	r.checkReferences()
	if st.zst && c.marker == nil && c.d.LayoutVersion() < layout.CompressedVersion {
		// Copied in without the marker (a sync that excluded it): a
		// release before compression would take these objects for strays
		// and repair the entries naming them away.
		rep.add(SevError, KindBadMarker, layout.MarkerFile, fmt.Sprintf("the cache holds compressed objects but its marker names layout %d, not %d (releases before compression would drop them); check -repair raises it", c.d.LayoutVersion(), layout.CompressedVersion))
		st.raise = true
	}

	// Phase 3: objects.
	r.phase(fmt.Sprintf("hashing %d objects (%d bytes)", len(r.objs), rep.ObjectBytes))
	if err := r.checkObjects(ctx); err != nil {
		return nil, nil, err
	}
	r.reportLeftovers()
	rep.summarizeHints()
	rep.Seconds = time.Since(began).Seconds()
	r.suggestNext()
	return rep, st, nil
}

// checkRun is one check's state as it passes from phase to phase: what the
// earlier phases listed and read, which the later ones judge.
type checkRun struct {
	c    *Cache
	opts CheckOptions
	rep  *CheckReport
	st   *checkState

	damaged map[string]bool           // functions whose manifests are damaged or unreadable
	entries map[string][]record.Entry // the entries of every readable manifest
	refs    refIndex                  // the entries using each object
	objs    []objFile                 // every object, loose and packed
	packs   []cas.PackInfo
	strays  []looseFile // files among the objects that are not objects
	dups    int         // objects stored more than once
	temps   []looseFile // tmp/
	lost    []looseFile // lost+found/
	// badPacked are the packed objects no copy of which hashes to its name.
	badPacked map[cas.ID]bool
}

// phase tells opts.Phase, if set, that the named phase starts.
func (r *checkRun) phase(s string) {
	if r.opts.Phase != nil {
		r.opts.Phase(s)
	}
}

// checkManifests lists the functions and reports every problem of their
// manifest files, noting the damaged manifests, strays and newer files.
func (r *checkRun) checkManifests() error {
	c, rep, st := r.c, r.rep, r.st
	names, err := c.Functions()
	if err != nil {
		return err
	}
	st.names = names
	rep.Functions = len(names)
	r.damaged = map[string]bool{}
	for _, name := range names {
		probs, err := manifest.Check(c.d, name)
		if err != nil {
			rep.add(SevError, KindUnreadable, c.manifestPath(name, ""), err.Error())
			r.damaged[name] = true
			continue
		}
		for _, p := range probs {
			rep.add(SevError, manifestKind(p.Kind), c.manifestPath(name, p.Path), manifestDetail(p))
			switch p.Kind {
			case manifest.KindStray:
				st.strays = append(st.strays, looseFile{Path: p.Path})
			case manifest.KindUnknownVersion:
				st.newer = append(st.newer, p.Path)
			default:
				r.damaged[name] = true
			}
		}
	}
	st.damaged = sortedKeys(r.damaged)
	return nil
}

// readEntries reads every function's entries and indexes which entries use
// each object; a manifest that cannot be read is reported (once) as damaged.
func (r *checkRun) readEntries() {
	c, rep, st := r.c, r.rep, r.st
	r.entries = make(map[string][]record.Entry, len(st.names))
	for _, name := range st.names {
		es, err := c.Entries(name)
		if err != nil {
			if !r.damaged[name] {
				rep.add(SevError, KindUnreadable, c.manifestPath(name, ""), err.Error())
				st.damaged = append(st.damaged, name)
				r.damaged[name] = true
			}
			continue
		}
		r.entries[name] = es
		rep.Entries += len(es)
	}
	r.refs = buildRefs(r.entries)
}

// listFiles lists the objects, packs, strays, temp files and lost+found,
// then runs the after-listing hooks (where Check lets the gc lock go).
func (r *checkRun) listFiles() error {
	c := r.c
	var err error
	if r.objs, r.packs, r.strays, r.dups, err = c.objects(); err != nil {
		return err
	}
	if r.temps, err = scanFlat(c.d.Tmp()); err != nil {
		return err
	}
	if r.lost, err = scanFlat(c.d.LostFound()); err != nil {
		return err
	}
	if r.opts.afterListing != nil {
		r.opts.afterListing()
	}
	if testAfterListing != nil {
		testAfterListing()
	}
	return nil
}

// checkReferences counts the objects and reports every reference to an
// object that is missing or whose size differs from the entry's record.
func (r *checkRun) checkReferences() {
	c, rep, st := r.c, r.rep, r.st
	st.objects = make(map[cas.ID]objFile, len(r.objs))
	for _, o := range r.objs {
		if prev, ok := st.objects[o.ID]; !ok || prev.Compressed {
			st.objects[o.ID] = o // of two loose forms, the raw one (readers' first)
		}
		rep.ObjectBytes += o.Size
		st.zst = st.zst || o.Compressed
	}
	rep.Objects = len(r.objs)
	for _, id := range SortedIDs(r.refs) {
		users := r.refs[id]
		o, ok := st.objects[id]
		if !ok {
			rep.add(SevError, KindMissing, layout.ObjectRel(id), "referenced by "+describeUsers(users))
			continue
		}
		for _, u := range users {
			if u.Size != o.Content && o.Content >= 0 {
				rep.add(SevError, KindSizeMismatch, o.rel(c.d),
					fmt.Sprintf("object is %d bytes but %s records %d", o.Content, u.Name+" key "+ShortHash(u.KeyHash), u.Size))
				break
			}
		}
	}
}

// checkObjects hashes every loose object and every pack, then judges each
// object by its hash and its users. It fails only when ctx is done.
func (r *checkRun) checkObjects(ctx context.Context) error {
	c, rep := r.c, r.rep
	bar := StartProgress(r.opts.Progress, "hashing objects", rep.ObjectBytes, true)
	results := hashObjects(ctx, r.objs, r.opts.Workers, bar)
	r.badPacked = c.checkPacks(ctx, r.packs, rep, r.st, bar)
	bar.Done()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check interrupted: %w", err)
	}
	if r.dups > 0 {
		rep.add(SevHint, KindDuplicate, c.d.Rel(c.d.Packs()), plural(r.dups, "object is", "objects are")+" stored more than once (gc keeps one)")
	}
	buf := make([]byte, hashBufSize)
	for i, o := range r.objs {
		res := results[i]
		rep.HashedBytes += res.N
		if o.Pack != "" {
			r.judgePacked(o)
			continue
		}
		r.judgeLoose(o, res, buf)
	}
	return nil
}

// judgePacked reports a packed object no copy of which hashes to its name,
// or that no entry uses.
func (r *checkRun) judgePacked(o objFile) {
	c, rep := r.c, r.rep
	if r.badPacked[o.ID] {
		detail := "a packed copy's bytes do not hash to its name"
		if users := r.refs[o.ID]; len(users) > 0 {
			detail += "; used by " + describeUsers(users)
		}
		rep.add(SevError, KindHashMismatch, o.rel(c.d), detail)
	} else if len(r.refs[o.ID]) == 0 {
		rep.add(SevHint, KindDangling, o.rel(c.d), fmt.Sprintf("no entry uses this object (%s)", humanBytes(o.Size)))
		r.st.dangling += o.Size
	}
}

// judgeLoose reports a loose object that is not a file, cannot be read or
// does not hash to its name (read twice to be sure), or that no entry uses.
func (r *checkRun) judgeLoose(o objFile, res hashResult, buf []byte) {
	rep, st := r.rep, r.st
	bad := func() {
		if o.Compressed {
			st.badZst = append(st.badZst, o.ID)
		} else {
			st.corrupt = append(st.corrupt, o.ID)
		}
	}
	if !o.Mode.IsRegular() {
		rep.add(SevError, KindCorrupt, o.rel(r.c.d), "not a regular file ("+o.Mode.Type().String()+")")
		bad()
		return
	}
	if errors.Is(res.Err, fs.ErrNotExist) {
		return // deleted by gc after the listing; not a finding
	}
	if res.Err != nil {
		rep.add(SevError, KindUnreadable, o.rel(r.c.d), res.Err.Error())
		bad()
		return
	}
	if res.Got != o.ID || res.Detail != "" {
		// Read it once more to tell a transient read fault from
		// corruption (restic does the same).
		again := hashObject(o, buf, noCounter{})
		if errors.Is(again.Err, fs.ErrNotExist) || (again.Err == nil && again.Detail == "" && again.Got == o.ID) {
			return
		}
		detail := fmt.Sprintf("content hashes to %s", res.Got)
		if res.Detail != "" {
			detail = "compressed, and " + res.Detail
		} else if o.Compressed {
			detail = "compressed, and decompresses to bytes that hash to " + res.Got.String()
		}
		if users := r.refs[o.ID]; len(users) > 0 {
			detail += "; used by " + describeUsers(users)
		}
		rep.add(SevError, KindHashMismatch, o.rel(r.c.d), detail)
		bad()
		return
	}
	if len(r.refs[o.ID]) == 0 {
		rep.add(SevHint, KindDangling, o.rel(r.c.d), fmt.Sprintf("no entry uses this object (%s)", humanBytes(o.Size)))
		st.dangling += o.Size
	}
}

// reportLeftovers reports the strays among the objects, stale temp files
// and what earlier repairs left in lost+found.
func (r *checkRun) reportLeftovers() {
	c, rep, st := r.c, r.rep, r.st
	for _, s := range r.strays {
		what := "file"
		if s.IsDir {
			what = "directory"
		}
		rep.add(SevError, KindStray, c.d.Rel(s.Path), "a "+what+" among the objects that is not an object")
		st.strays = append(st.strays, s)
	}
	for _, t := range r.temps {
		age := r.opts.Now.Sub(t.ModTime)
		if age < r.opts.Grace {
			continue // a write in flight
		}
		rep.add(SevHint, KindStaleTemp, c.d.Rel(t.Path),
			fmt.Sprintf("left by an interrupted write %s ago (%s)", roundAge(age), humanBytes(t.Size)))
	}
	if len(r.lost) > 0 {
		rep.add(SevHint, KindQuarantined, c.d.Rel(c.d.LostFound()),
			plural(len(r.lost), "file", "files")+" kept by an earlier repair; inspect them, then delete them by hand")
	}
}

// suggestNext names what fixes what was found: a repair for errors, gc
// for what only takes room.
func (r *checkRun) suggestNext() {
	rep := r.rep
	if rep.Errors > 0 {
		rep.Next = append(rep.Next, FixRepair)
	} else if r.st.dangling > 0 || hasKind(rep, KindStaleTemp) {
		rep.Next = append(rep.Next, FixGC)
	}
}

// checkPacks reports damaged packs and hashes every packed object, returning
// the IDs whose records (every copy of them) do not hash to their names.
//
// A pack that vanishes between the listing and its reading was merged away
// by another process (Open merges small packs): that is no finding. The
// packs are listed again and the ones the first listing did not have (the
// merge's output, holding its objects) are checked, as the manifest
// refresh does.
func (c *Cache) checkPacks(ctx context.Context, packs []cas.PackInfo, rep *CheckReport, st *checkState, bar Counter) map[cas.ID]bool {
	bad := map[cas.ID]bool{}
	good := map[cas.ID]bool{}
	listed := map[string]bool{}
	for _, pi := range packs {
		listed[pi.Name] = true
	}
	for try := 0; ; try++ {
		vanished := c.checkPackList(ctx, packs, rep, st, bar, bad, good)
		if !vanished || try == 2 || ctx.Err() != nil {
			break
		}
		again, err := c.store.ListPacks(nil)
		if err != nil {
			break
		}
		packs = packs[:0:0]
		for _, pi := range again {
			if !listed[pi.Name] && !pi.Retired {
				listed[pi.Name] = true
				packs = append(packs, pi)
			}
		}
	}
	for id := range good {
		delete(bad, id) // another copy is good: readers find it
	}
	return bad
}

// checkPackList checks packs, adding to bad and good; vanished says one of
// them was gone when it was read.
func (c *Cache) checkPackList(ctx context.Context, packs []cas.PackInfo, rep *CheckReport, st *checkState, bar Counter, bad, good map[cas.ID]bool) (vanished bool) {
	for _, pi := range packs {
		if ctx.Err() != nil {
			break
		}
		rel := c.d.Rel(pi.Path)
		damaged := false
		if pi.Problem != "" {
			rep.add(SevError, KindBadPack, c.d.Rel(pi.Damaged), pi.Problem)
			damaged = true
		}
		if pi.Valid < pi.Size && !pi.Live {
			rep.add(SevHint, KindTornPack, rel, fmt.Sprintf("ends inside a record: %d bytes after the last complete one (an interrupted append; gc repacks it)", pi.Size-pi.Valid))
		}
		objs, err := c.store.VerifyPack(pi, func(n int64) { bar.Add(n); rep.HashedBytes += n })
		if errors.Is(err, fs.ErrNotExist) && pi.Problem == "" {
			vanished = true // merged away since the listing
			continue
		}
		if err != nil {
			rep.add(SevError, KindUnreadable, rel, err.Error())
			continue
		}
		for _, o := range objs {
			bad[o.ID] = true
			damaged = true
		}
		for _, o := range pi.Objects {
			if !slices.ContainsFunc(objs, func(b cas.PackedObject) bool { return b.Offset == o.Offset }) {
				good[o.ID] = true
			}
		}
		if damaged && !pi.Live {
			st.packs = append(st.packs, pi.Name)
		} else if damaged {
			st.livePacks = append(st.livePacks, pi.Name)
		}
	}
	return vanished
}

func hasKind(rep *CheckReport, kind string) bool {
	for _, f := range rep.Findings {
		if f.Kind == kind {
			return true
		}
	}
	return false
}

// manifestKind makes a manifest problem kind one grep-able word.
func manifestKind(k string) string {
	k = strings.Join(strings.Fields(k), "-")
	if k == "" {
		return "manifest"
	}
	return k
}

func (c *Cache) manifestPath(name, p string) string {
	if p == "" {
		return c.d.Rel(c.d.Manifest(name))
	}
	return c.d.Rel(p)
}

func manifestDetail(p manifest.Problem) string {
	d := strings.Join(strings.Fields(p.Detail), " ")
	if p.Offset > 0 {
		d += fmt.Sprintf(" (at byte %d)", p.Offset)
	}
	if d == "" {
		d = p.Kind
	}
	return d
}

// describeUsers names the first entry using an object and how many others do.
func describeUsers(users []ObjectRef) string {
	if len(users) == 0 {
		return "no entry"
	}
	s := users[0].String()
	if len(users) > 1 {
		s += fmt.Sprintf(" and %d more", len(users)-1)
	}
	return s
}

func roundAge(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}
