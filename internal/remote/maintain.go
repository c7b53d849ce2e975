package remote

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// Problem is something wrong with a remote, found by Inspect.
type Problem struct {
	Kind     string `json:"kind"`
	Key      string `json:"key"`
	Function string `json:"function,omitempty"`
	Detail   string `json:"detail"`
}

func (p Problem) String() string {
	s := p.Kind + " " + p.Key
	if p.Function != "" {
		s += " (" + p.Function + ")"
	}
	return s + ": " + p.Detail
}

// The kinds of Problem.
const (
	KindNoMarker       = "no-marker"       // no pcache-remote.json, or another format's
	KindBadLog         = "bad-log-entry"   // a log entry that does not decode (readers skip it)
	KindLogGap         = "log-gap"         // numbers missing inside a log (readers stop at the gap)
	KindBadCheckpoint  = "bad-checkpoint"  // a checkpoint that does not decode or lacks segments
	KindBadSegment     = "bad-segment"     // a segment whose bytes are not its name's, or do not decode
	KindMissingSegment = "missing-segment" // a segment the index names that is not there
	KindMissingObject  = "missing-object"  // a live entry's object is not there (a dead record: a miss)
	KindBadObject      = "bad-object"      // an object of the wrong size, or (Verify) content
)

// FunctionInfo describes one function's remote index.
type FunctionInfo struct {
	Name       string    `json:"name"`
	Entries    int       `json:"entries"`
	Bytes      int64     `json:"bytes"`      // of the objects its live entries name
	Log        uint64    `json:"log"`        // the last log number
	Checkpoint uint64    `json:"checkpoint"` // the newest checkpoint's number
	Segments   int       `json:"segments"`   // read to resolve it (a reader's work)
	LastUse    time.Time `json:"last_use"`
}

// Report is what Inspect found.
type Report struct {
	Remote            string         `json:"remote"`
	Functions         []FunctionInfo `json:"functions"`
	Objects           int64          `json:"objects"`
	ObjectBytes       int64          `json:"object_bytes"`
	Unreferenced      int64          `json:"unreferenced_objects"`
	UnreferencedBytes int64          `json:"unreferenced_bytes"`
	Problems          []Problem      `json:"problems"`
}

// InspectOptions configure Inspect.
type InspectOptions struct {
	// Verify downloads every referenced object and checks its hash.
	Verify bool
	// Progress, if set, is called as objects are verified.
	Progress func(done, total int64)
}

// listing is one pass over a remote's keys.
type listing struct {
	objects map[[32]byte]listed
	zst     map[[32]byte]listed // objects stored compressed (objects/<id>.zst)
	fns     map[string]*fnKeys  // by fnDir
	probes  []string
	marker  bool
}

type listed struct {
	size     int64
	modified time.Time
	key      string
}

type fnKeys struct {
	dir         string
	logs        map[uint64]listed
	checkpoints map[uint64]listed
	segments    map[string]listed
	head        bool
}

func list(ctx context.Context, b Backend) (*listing, error) {
	l := &listing{objects: map[[32]byte]listed{}, zst: map[[32]byte]listed{}, fns: map[string]*fnKeys{}}
	err := b.List(ctx, "", func(key string, size int64, mod time.Time) error {
		it := listed{size: size, modified: mod, key: key}
		switch {
		case key == markerKey:
			l.marker = true
		case strings.HasPrefix(key, "objects/") && strings.HasSuffix(key, layout.CompressedExt):
			if id, _, ok := parseObjectKey(key); ok {
				l.zst[id] = it
			}
		case strings.HasPrefix(key, "objects/"):
			var id [32]byte
			if h, err := hex.DecodeString(strings.TrimPrefix(key, "objects/")); err == nil && len(h) == 32 {
				copy(id[:], h)
				l.objects[id] = it
			}
		case strings.HasPrefix(key, "probe/"):
			l.probes = append(l.probes, key)
		case strings.HasPrefix(key, "fn/"):
			parts := strings.SplitN(key, "/", 4)
			if len(parts) < 3 {
				return nil
			}
			dir := parts[0] + "/" + parts[1] + "/"
			f := l.fns[dir]
			if f == nil {
				f = &fnKeys{dir: dir, logs: map[uint64]listed{}, checkpoints: map[uint64]listed{}, segments: map[string]listed{}}
				l.fns[dir] = f
			}
			switch {
			case parts[2] == "head":
				f.head = true
			case len(parts) == 4 && parts[2] == "log":
				if n, err := parseSeq(parts[3]); err == nil {
					f.logs[n] = it
				}
			case len(parts) == 4 && parts[2] == "checkpoint":
				if n, err := parseSeq(parts[3]); err == nil {
					f.checkpoints[n] = it
				}
			case len(parts) == 4 && parts[2] == "segments":
				f.segments[parts[3]] = it
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remote: list %s: %w", b, err)
	}
	return l, nil
}

// name finds the function a directory of the index belongs to: its
// newest checkpoint or first log entry says.
func (f *fnKeys) name(ctx context.Context, b Backend) (string, error) {
	var keys []string
	for _, n := range sortedSeqs(f.checkpoints, true) {
		keys = append(keys, f.checkpoints[n].key)
	}
	for _, n := range sortedSeqs(f.logs, false) {
		keys = append(keys, f.logs[n].key)
	}
	for _, k := range keys {
		data, err := getAll(ctx, b, k, maxSmall)
		if errors.Is(err, ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		var v struct {
			Name string `cbor:"name"`
		}
		if decodeSmall(data, &v) == nil && v.Name != "" && fnDir(v.Name) == f.dir {
			return v.Name, nil
		}
	}
	return "", nil
}

func sortedSeqs(m map[uint64]listed, desc bool) []uint64 {
	out := make([]uint64, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return (out[i] < out[j]) != desc })
	return out
}

// inspected is one function's state as maintenance sees it.
type inspected struct {
	keys *fnKeys
	st   *fnState
	live []record.Entry
}

// inspect lists the remote and reads every function's index.
func inspect(ctx context.Context, b Backend) (*listing, []*inspected, []Problem, error) {
	l, err := list(ctx, b)
	if err != nil {
		return nil, nil, nil, err
	}
	var fns []*inspected
	var problems []Problem
	if !l.marker && (len(l.objects) > 0 || len(l.fns) > 0) {
		problems = append(problems, Problem{Kind: KindNoMarker, Key: markerKey, Detail: "the remote has pcache's keys but no marker"})
	}
	dirs := make([]string, 0, len(l.fns))
	for d := range l.fns {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		f := l.fns[d]
		name, err := f.name(ctx, b)
		if err != nil {
			return nil, nil, nil, err
		}
		if name == "" {
			problems = append(problems, Problem{Kind: KindBadLog, Key: d, Detail: "no readable checkpoint or log entry names this function"})
			continue
		}
		st, err := loadState(ctx, b, name, loadOptions{listed: true})
		if err != nil {
			return nil, nil, nil, err
		}
		problems = append(problems, st.problems...)
		fns = append(fns, &inspected{keys: f, st: st, live: live(st.entries)})
	}
	return l, fns, problems, nil
}

// live is manifest.Resolve without the tombstones of many.
func live(entries []record.Entry) []record.Entry {
	out := manifest.Resolve(entries)
	kept := out[:0]
	for _, e := range out {
		if !record.IsForget(&e) {
			kept = append(kept, e)
		}
	}
	return kept
}

// Inspect reads a whole remote: every function's index, every object's
// size (and, with Verify, content). It changes nothing.
func Inspect(ctx context.Context, b Backend, opts InspectOptions) (*Report, error) {
	l, fns, problems, err := inspect(ctx, b)
	if err != nil {
		return nil, err
	}
	// Lists are empty, never null, in JSON.
	rep := &Report{Remote: b.String(), Functions: []FunctionInfo{}, Problems: append([]Problem{}, problems...)}
	referenced := map[[32]byte]int64{}
	for _, fn := range fns {
		info := FunctionInfo{Name: fn.st.name, Entries: len(fn.live), Checkpoint: fn.st.checkpoint, Log: fn.st.seq, Segments: len(fn.st.segments)}
		seen := map[[32]byte]bool{}
		for i := range fn.live {
			e := &fn.live[i]
			if t := time.Unix(0, e.LastUse()); t.After(info.LastUse) {
				info.LastUse = t
			}
			for _, obj := range e.Objects() {
				id := obj.ID
				if !seen[id] {
					seen[id] = true
					info.Bytes += obj.Size
				}
				referenced[id] = obj.Size
				o, ok := l.objects[id]
				_, zok := l.zst[id]
				switch {
				case !ok && zok:
					// Stored compressed: its size is not the object's.
				case !ok:
					rep.Problems = append(rep.Problems, Problem{Kind: KindMissingObject, Key: objectKey(id), Function: fn.st.name,
						Detail: fmt.Sprintf("entry %s names it; calls that need it are computed", record.Short(&e.KeyHash))})
				case o.size != obj.Size:
					rep.Problems = append(rep.Problems, Problem{Kind: KindBadObject, Key: objectKey(id), Function: fn.st.name,
						Detail: fmt.Sprintf("%d bytes, the entry says %d", o.size, obj.Size)})
				}
			}
		}
		rep.Functions = append(rep.Functions, info)
	}
	for _, objs := range []map[[32]byte]listed{l.objects, l.zst} {
		for id, o := range objs {
			rep.Objects++
			rep.ObjectBytes += o.size
			if _, ok := referenced[id]; !ok {
				rep.Unreferenced++
				rep.UnreferencedBytes += o.size
			}
		}
	}
	if opts.Verify {
		var total, done int64
		for id := range referenced {
			_, ok := l.objects[id]
			_, zok := l.zst[id]
			total += int64(btoi(ok) + btoi(zok))
		}
		for id, size := range referenced {
			verify := func(key string, err error) error {
				if err != nil {
					if !errors.Is(err, errBadContent) {
						return err
					}
					rep.Problems = append(rep.Problems, Problem{Kind: KindBadObject, Key: key, Detail: err.Error()})
				}
				done++
				if opts.Progress != nil {
					opts.Progress(done, total)
				}
				return nil
			}
			if o, ok := l.objects[id]; ok {
				if err := verify(objectKey(id), verifyObject(ctx, b, id, o.size)); err != nil {
					return nil, err
				}
			}
			if _, ok := l.zst[id]; ok {
				if err := verify(compressedKey(id), verifyCompressed(ctx, b, id, size)); err != nil {
					return nil, err
				}
			}
		}
	}
	sort.Slice(rep.Problems, func(i, j int) bool { return rep.Problems[i].Key < rep.Problems[j].Key })
	sort.Slice(rep.Functions, func(i, j int) bool { return rep.Functions[i].Name < rep.Functions[j].Name })
	return rep, nil
}

var errBadContent = errors.New("content does not hash to the object's name")

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func verifyObject(ctx context.Context, b Backend, id [32]byte, size int64) error {
	r, err := b.Get(ctx, objectKey(id))
	if err != nil {
		return err
	}
	defer r.Close()
	// The listing said how large it is: a body that goes on past that is
	// not the object (and an endless one must not keep check reading).
	h := blake3.New()
	n, err := io.Copy(h, io.LimitReader(r, size+1))
	if err != nil {
		return fmt.Errorf("remote: get %s: %w", objectKey(id), err)
	}
	if n != size {
		return fmt.Errorf("%w: %d bytes or more, listed as %d", errBadContent, n, size)
	}
	var got [32]byte
	copy(got[:], h.Sum(nil))
	if got != id {
		return errBadContent
	}
	return nil
}

// GCOptions configure GC.
type GCOptions struct {
	// OlderThan evicts entries last used longer ago than this (0: none).
	OlderThan time.Duration
	// MaxSize evicts the least recently used entries until the objects the
	// rest name fit in this many bytes (0: no limit).
	MaxSize int64
	// Grace spares what was written more recently than this: objects and
	// segments an in-flight publisher may be about to name, log entries and
	// checkpoints a reader may be reading. Default 24h.
	Grace time.Duration
	// DryRun reports what would be done and changes nothing.
	DryRun bool
	// Now is the clock; default time.Now.
	Now time.Time
}

// GCReport is what GC did (or, with DryRun, would do).
type GCReport struct {
	Evicted          int      `json:"evicted_entries"`
	EvictedBytes     int64    `json:"evicted_bytes"`
	DeadRecords      int      `json:"dead_records"` // entries whose objects were gone, dropped
	Compacted        []string `json:"compacted_functions"`
	DeletedObjects   int      `json:"deleted_objects"`
	DeletedBytes     int64    `json:"deleted_bytes"`
	DeletedSegments  int      `json:"deleted_segments"`
	DeletedLog       int      `json:"deleted_log_entries"`
	DeletedOther     int      `json:"deleted_other"` // old checkpoints, probes and expired leases
	YoungKept        int      `json:"young_unreferenced_kept"`
	EvictedFunctions []string `json:"evicted_from,omitempty"`
	// Refused names the functions gc left alone (nothing of their index
	// compacted, evicted or deleted) because remote check finds their
	// index damaged: the first problem of each. Their objects are kept.
	Refused []Problem `json:"refused_functions"`
}

// GC compacts every function's log into a checkpoint, evicts entries by
// age and size (least recently used first, by the last use the index
// records), drops dead records (entries whose objects are gone, older than
// Grace) and then deletes what nothing names any more: objects, segments,
// log entries covered by a checkpoint older than Grace, older checkpoints.
// Evictions are published as tombstones through the log like any writer's
// records, so concurrent writers and readers stay consistent. An index
// record is never dropped while its objects are there, except by eviction,
// which removes both.
//
// A function whose index Inspect finds damaged (a checkpoint, log entry or
// segment that does not read) is left alone (GCReport.Refused): a
// checkpoint of what could be read would drop the rest for good. And the
// log is removed only up to a checkpoint that reads and whose segments
// are all there.
func GC(ctx context.Context, b Backend, opts GCOptions) (*GCReport, error) {
	if opts.OlderThan < 0 || opts.MaxSize < 0 || opts.Grace < 0 {
		return nil, errors.New("remote: gc: negative OlderThan, MaxSize or Grace")
	}
	if opts.Grace == 0 {
		opts.Grace = 24 * time.Hour
	}
	clock := func() time.Time { return opts.Now }
	if opts.Now.IsZero() {
		clock = time.Now
		opts.Now = clock()
	}
	l, fns, _, err := inspect(ctx, b)
	if err != nil {
		return nil, err
	}
	rep := &GCReport{Compacted: []string{}, Refused: []Problem{}} // empty, never null, in JSON
	g := &gcRun{b: b, opts: opts, rep: rep, refused: map[string]bool{}}
	for _, fn := range fns {
		if len(fn.st.problems) > 0 {
			g.refuse(fn)
		}
	}
	evict := chooseEvictions(l, fns, g.opts, rep, g.refused)
	for _, fn := range fns {
		if err := g.evictAndCompact(ctx, fn, evict[fn.st.name]); err != nil {
			return rep, err
		}
	}
	if g.opts.DryRun {
		return rep, nil
	}
	g.opts.Now = clock() // ages below are of files, some just written
	// What is still named, listed again: the compactions added checkpoints
	// and segments.
	if l, err = list(ctx, b); err != nil {
		return rep, err
	}
	if err := g.deleteUnnamed(ctx, l, fns); err != nil {
		return rep, err
	}
	return rep, nil
}

// gcRun is the state of one GC: its options (Now advances once, after the
// compactions), its report, and the functions it refused (leaves alone).
type gcRun struct {
	b       Backend
	opts    GCOptions
	rep     *GCReport
	refused map[string]bool // by function name
}

// refuse leaves fn alone for the rest of the GC, reporting its first
// problem.
func (g *gcRun) refuse(fn *inspected) {
	g.refused[fn.st.name] = true
	g.rep.Refused = append(g.rep.Refused, fn.st.problems[0])
}

// evictAndCompact publishes fn's evictions (tomb) through its log, reads
// its index again, and compacts its log into a checkpoint; with DryRun it
// only reports them. A refused function, or one damaged meanwhile, is left.
func (g *gcRun) evictAndCompact(ctx context.Context, fn *inspected, tomb []record.Entry) error {
	b, opts, rep := g.b, g.opts, g.rep
	name := fn.st.name
	if g.refused[name] {
		return nil
	}
	if len(tomb) > 0 {
		rep.EvictedFunctions = append(rep.EvictedFunctions, name)
		if opts.DryRun {
			return nil
		}
		segs, err := encodeSegments(name, tomb)
		if err != nil {
			return err
		}
		from := fn.st.seq
		for _, sg := range segs {
			if from, _, _, err = publish(ctx, b, name, sg.entries, from, "pcache-fsck gc", opts.Now); err != nil {
				return err
			}
		}
		st, err := loadState(ctx, b, name, loadOptions{listed: true})
		if err != nil {
			return err
		}
		fn.st, fn.live = st, live(st.entries)
		if len(st.problems) > 0 { // damaged meanwhile
			g.refuse(fn)
			return nil
		}
	}
	if fn.st.seq > fn.st.checkpoint {
		rep.Compacted = append(rep.Compacted, name)
		if !opts.DryRun {
			if _, err := compact(ctx, b, fn.st); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteUnnamed deletes, by listing l (taken after the compactions), what
// nothing names any more: each function's old log, checkpoints and
// segments, then objects no live entry names (older than Grace), probes
// and expired leases.
func (g *gcRun) deleteUnnamed(ctx context.Context, l *listing, fns []*inspected) error {
	b, opts, rep := g.b, g.opts, g.rep
	referenced := map[[32]byte]bool{}
	for _, fn := range fns {
		for i := range fn.live {
			for _, o := range fn.live[i].Objects() {
				referenced[o.ID] = true
			}
		}
		if g.refused[fn.st.name] {
			continue
		}
		if err := gcFunction(ctx, b, l.fns[fn.keys.dir], fn.st.name, opts, rep); err != nil {
			return err
		}
	}
	for _, objs := range []map[[32]byte]listed{l.objects, l.zst} {
		for id, o := range objs {
			if referenced[id] {
				continue
			}
			if opts.Now.Sub(o.modified) < opts.Grace {
				rep.YoungKept++
				continue
			}
			if err := b.Delete(ctx, o.key); err != nil {
				return err
			}
			rep.DeletedObjects++
			rep.DeletedBytes += o.size
		}
	}
	for _, p := range l.probes {
		if err := b.Delete(ctx, p); err != nil {
			return err
		}
		rep.DeletedOther++
	}
	n, err := gcLeases(ctx, b, opts.Now)
	rep.DeletedOther += n
	return err
}

// chooseEvictions picks the entries to evict (by age, then size, least
// recently used first) and the dead records, and returns the tombstones
// that evict them, per function.
func chooseEvictions(l *listing, fns []*inspected, opts GCOptions, rep *GCReport, refused map[string]bool) map[string][]record.Entry {
	type cand struct {
		fn string
		e  *record.Entry
	}
	var all []cand
	refs := map[[32]byte]int{}
	var total int64
	out := map[string][]record.Entry{}
	tomb := func(c cand) {
		t := record.Entry{KeyHash: c.e.KeyHash, Deleted: true, Time: max(opts.Now.UnixNano(), c.e.Time+1)}
		out[c.fn] = append(out[c.fn], t)
	}
	for _, fn := range fns {
		for i := range fn.live {
			e := &fn.live[i]
			objs := e.Objects()
			dead := false
			for _, o := range objs {
				_, ok := l.objects[o.ID]
				_, zok := l.zst[o.ID]
				if !ok && !zok {
					dead = true
				}
			}
			if dead && opts.Now.Sub(time.Unix(0, e.Time)) >= opts.Grace && !refused[fn.st.name] {
				rep.DeadRecords++
				tomb(cand{fn.st.name, e})
				continue
			}
			if !refused[fn.st.name] { // a refused function's entries count, but stay
				all = append(all, cand{fn.st.name, e})
			}
			for _, o := range objs {
				if refs[o.ID] == 0 {
					total += o.Size
				}
				refs[o.ID]++
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].e.LastUse() < all[j].e.LastUse() })
	cutoff := int64(0)
	if opts.OlderThan > 0 {
		cutoff = opts.Now.Add(-opts.OlderThan).UnixNano()
	}
	for _, c := range all {
		old := cutoff != 0 && c.e.LastUse() < cutoff
		big := opts.MaxSize > 0 && total > opts.MaxSize
		if !old && !big {
			break
		}
		var freed int64
		for _, o := range c.e.Objects() {
			if refs[o.ID]--; refs[o.ID] == 0 {
				total -= o.Size
				freed += o.Size
			}
		}
		rep.Evicted++
		rep.EvictedBytes += freed
		tomb(c)
	}
	return out
}

// gcFunction deletes the index files of one function that nothing needs:
// log entries covered by a checkpoint older than Grace that reads and
// whose segments are all there (settled), checkpoints older than that one,
// and segments that neither it nor a later checkpoint or log entry names
// (and older than Grace).
func gcFunction(ctx context.Context, b Backend, f *fnKeys, name string, opts GCOptions, rep *GCReport) error {
	if f == nil {
		return nil
	}
	settled, err := settledCheckpoint(ctx, b, f, name, opts)
	if err != nil || settled == 0 {
		return err
	}
	// New readers start at the head, and writers publish past it: it must
	// name a checkpoint at or past the log this removes, and one that
	// reads.
	if seq, err := readHead(ctx, b, name); err != nil {
		return err
	} else if seq < settled {
		if err := putBytes(ctx, b, headKey(name), encode(head{Seq: settled}), false); err != nil {
			return err
		}
	}
	needed := map[string]bool{}
	named := func(key string) error {
		data, err := getAll(ctx, b, key, maxSmall)
		if errors.Is(err, ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		var v struct {
			Segments []string `cbor:"segments"`
		}
		if decodeSmall(data, &v) != nil {
			return nil
		}
		for _, s := range v.Segments {
			needed[s] = true
		}
		return nil
	}
	for n, it := range f.checkpoints {
		if n >= settled {
			if err := named(it.key); err != nil {
				return err
			}
		}
	}
	for n, it := range f.logs {
		if n > settled {
			if err := named(it.key); err != nil {
				return err
			}
		}
	}
	del := func(key string, counter *int) error {
		if err := b.Delete(ctx, key); err != nil {
			return err
		}
		*counter++
		return nil
	}
	for n, it := range f.logs {
		if n <= settled {
			if err := del(it.key, &rep.DeletedLog); err != nil {
				return err
			}
		}
	}
	for n, it := range f.checkpoints {
		if n < settled {
			if err := del(it.key, &rep.DeletedOther); err != nil {
				return err
			}
		}
	}
	for file, it := range f.segments {
		if !needed[file] && opts.Now.Sub(it.modified) >= opts.Grace {
			if err := del(it.key, &rep.DeletedSegments); err != nil {
				return err
			}
		}
	}
	return nil
}

// settledCheckpoint returns the newest checkpoint of function name older
// than Grace that can stand for the log up to it: it reads as a
// checkpoint of that function and every segment it names is listed. 0:
// none (nothing of the log is removed).
func settledCheckpoint(ctx context.Context, b Backend, f *fnKeys, name string, opts GCOptions) (uint64, error) {
	for _, n := range sortedSeqs(f.checkpoints, true) {
		if opts.Now.Sub(f.checkpoints[n].modified) < opts.Grace {
			continue
		}
		cp, err := readCheckpoint(ctx, b, name, n)
		if errors.Is(err, ErrNotExist) || errors.Is(err, errDamaged) {
			continue
		}
		if err != nil {
			return 0, err
		}
		whole := true
		for _, file := range cp.Segments {
			if _, ok := f.segments[file]; !ok || !layout.IsSegmentName(file) {
				whole = false
			}
		}
		if whole {
			return n, nil
		}
	}
	return 0, nil
}

// RepairReport is what Repair did.
type RepairReport struct {
	// Deleted are the damaged files removed: objects (the entries naming
	// them become misses, computed and uploaded again by the next machine
	// that needs them) and checkpoints (readers and gc use an earlier
	// one, or the log).
	Deleted []Problem `json:"deleted"`
	// HeadsMoved names the functions whose head named a checkpoint Repair
	// deleted, now pointing at the newest one that reads (or removed).
	HeadsMoved []string `json:"heads_moved"`
	// Left are the problems Repair does not change (a damaged log entry
	// or segment, a gap, a missing object: readers already skip them).
	Left []Problem `json:"left"`
}

// Repair removes the damaged files rep (an Inspect's report) names that
// nobody can use and that stand in the way of the remote healing itself:
// objects of the wrong size or content (a create-only upload of a good
// copy would otherwise be refused as "exists") and checkpoints that do
// not read (gc would otherwise leave their function alone for good).
// Each is checked again before it is deleted.
func Repair(ctx context.Context, b Backend, rep *Report) (*RepairReport, error) {
	out := &RepairReport{Deleted: []Problem{}, HeadsMoved: []string{}, Left: []Problem{}}
	moved := map[string]bool{}
	for _, p := range rep.Problems {
		var bad bool
		var err error
		switch p.Kind {
		case KindBadObject:
			bad, err = objectDamaged(ctx, b, p.Key)
		case KindBadCheckpoint:
			bad, err = checkpointDamaged(ctx, b, p)
		default:
			out.Left = append(out.Left, p)
			continue
		}
		if err != nil {
			return out, fmt.Errorf("remote: repair %s: %w", p.Key, err)
		}
		if !bad {
			continue // replaced or gone meanwhile
		}
		if err := b.Delete(ctx, p.Key); err != nil {
			return out, fmt.Errorf("remote: repair: delete %s: %w", p.Key, err)
		}
		out.Deleted = append(out.Deleted, p)
		if p.Kind == KindBadCheckpoint && !moved[p.Function] {
			ok, err := pointHeadAtGoodCheckpoint(ctx, b, p.Function)
			if err != nil {
				return out, fmt.Errorf("remote: repair: head of %s: %w", p.Function, err)
			}
			if ok {
				moved[p.Function] = true
				out.HeadsMoved = append(out.HeadsMoved, p.Function)
			}
		}
	}
	return out, nil
}

// objectDamaged checks the object at key again: its size and content
// against its name.
func objectDamaged(ctx context.Context, b Backend, key string) (bool, error) {
	if id, compressed, ok := parseObjectKey(key); ok && compressed {
		return compressedDamaged(ctx, b, id)
	}
	h, err := hex.DecodeString(strings.TrimPrefix(key, "objects/"))
	if err != nil || len(h) != 32 || !strings.HasPrefix(key, "objects/") {
		return false, nil
	}
	var id [32]byte
	copy(id[:], h)
	size, _, err := b.Head(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = verifyObject(ctx, b, id, size)
	switch {
	case errors.Is(err, errBadContent):
		return true, nil
	case errors.Is(err, ErrNotExist):
		return false, nil
	}
	return false, err
}

// checkpointDamaged reads the checkpoint p names again.
func checkpointDamaged(ctx context.Context, b Backend, p Problem) (bool, error) {
	i := strings.LastIndex(p.Key, "/")
	seq, err := parseSeq(p.Key[i+1:])
	if err != nil || p.Function == "" || checkpointKey(p.Function, seq) != p.Key {
		return false, nil
	}
	_, err = readCheckpoint(ctx, b, p.Function, seq)
	switch {
	case errors.Is(err, errDamaged):
		return true, nil
	case errors.Is(err, ErrNotExist):
		return false, nil
	}
	return false, err
}

// pointHeadAtGoodCheckpoint makes function name's head name its newest
// checkpoint that reads (or removes the head if none does), when the
// checkpoint it names does not read; it reports whether it changed it.
func pointHeadAtGoodCheckpoint(ctx context.Context, b Backend, name string) (bool, error) {
	seq, err := readHead(ctx, b, name)
	if err != nil || seq == 0 {
		return false, err
	}
	if _, err := readCheckpoint(ctx, b, name, seq); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotExist) && !errors.Is(err, errDamaged) {
		return false, err
	}
	cps, err := listSeqs(ctx, b, fnDir(name)+"checkpoint/")
	if err != nil {
		return false, err
	}
	for i := len(cps) - 1; i >= 0; i-- {
		if _, err := readCheckpoint(ctx, b, name, cps[i]); err == nil {
			return true, putBytes(ctx, b, headKey(name), encode(head{Seq: cps[i]}), false)
		} else if !errors.Is(err, ErrNotExist) && !errors.Is(err, errDamaged) {
			return false, err
		}
	}
	return true, b.Delete(ctx, headKey(name))
}
