package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/lock"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// fnIndex is this cache's mirror of one function's remote index: the
// segments the remote log names, kept in a local directory and read by the
// manifest engine like any manifest (mapped, searched in place), and the
// log number it is current with. The processes sharing the local cache
// share the mirror; one of them brings it up to date at a time.
type fnIndex struct {
	t    *Tier
	name string
	dir  string
	lock string // held while the mirror is brought up to date
	m    *manifest.Manifest

	mu sync.Mutex // one refresh at a time in this process; guards st, gapChecked and damagedCP
	st mirrorState

	// freshAt is when the last refresh that read to the end (or to its
	// budget) started, unix ns; 0: the mirror was not brought up to date
	// by this process yet. Read without mu (current).
	freshAt    atomic.Int64
	gapChecked time.Time // when a refresh last looked past the end of the log for a gap
	damagedCP  uint64    // a checkpoint found damaged (an older one was used instead); 0: none
	amu        sync.Mutex
	running    chan struct{} // closed when the refresh running in the background ends; nil: none
}

// mirrorState is what a mirror knows of the remote log (its file is
// layout.MirrorState in the mirror's directory).
type mirrorState struct {
	Cursor uint64              `json:"cursor"` // log entries 1..Cursor are in the mirror
	Base   uint64              `json:"base"`   // the checkpoint the mirror was last reset to
	Log    map[uint64][]string `json:"log"`    // segments of the log entries after Base
	HeadAt time.Time           `json:"head_read"`
}

const (
	headEvery         = time.Hour // a mirror reads the head at least this often
	maxMirrorSegments = 4 * compactEvery
	segmentTries      = 3 // downloads of a segment whose bytes do not match its name
	// maxRefreshSteps bounds the log entries (damaged ones and retries
	// included) one refresh reads, and Options.Timeout the time it spends
	// starting requests: a remote that answers every GET would otherwise
	// keep a call reading its "log" for ever. The rest is read by the
	// next refresh, Options.Refresh later.
	maxRefreshSteps = 1024
	// maxDamagedPerRefresh bounds the damaged log entries (reads of them
	// included) one refresh goes through: writers make whole entries, so
	// a run of damaged ones is a remote answering what it has not got.
	maxDamagedPerRefresh = 16
)

// index returns the mirror of function name, opening it on first use.
func (t *Tier) index(name string) (*fnIndex, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fi := t.fns[name]; fi != nil {
		return fi, nil
	}
	dir := t.d.RemoteIndex(t.id, name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("remote: mirror of %s: %w", name, err)
	}
	m, err := manifest.Open(t.d, name, manifest.Options{Dir: dir, ReadOnly: true, FullRefresh: 365 * 24 * time.Hour})
	if err != nil {
		return nil, fmt.Errorf("remote: mirror of %s: %w", name, err)
	}
	fi := &fnIndex{t: t, name: name, dir: dir, lock: t.d.ManifestLock("dir:" + dir), m: m}
	fi.load()
	t.fns[name] = fi
	return fi, nil
}

// close waits for a refresh running in the background (Close has ended its
// context, so it stops at its next request) and closes the mirror.
func (fi *fnIndex) close() {
	fi.amu.Lock()
	ch := fi.running
	fi.amu.Unlock()
	if ch != nil {
		<-ch
	}
	fi.m.Close()
}

// load reads the mirror's state file (another process may have advanced it).
func (fi *fnIndex) load() {
	var st mirrorState
	if b, err := readRegular(filepath.Join(fi.dir, layout.MirrorState), maxStateFile); err == nil && json.Unmarshal(b, &st) == nil {
		fi.st = st
	}
	if fi.st.Log == nil {
		fi.st.Log = map[uint64][]string{}
	}
}

func (fi *fnIndex) save() {
	if b, err := json.Marshal(fi.st); err == nil {
		fsutil.WriteFileAtomic(fi.t.d.Tmp(), filepath.Join(fi.dir, layout.MirrorState), b, 0o644, false)
	}
}

// Lookup returns function name's remote entry for key, bringing the mirror
// up to date first if that was last done more than Options.Refresh ago
// (with fresh: also when the mirror lacks the key, one GET when nothing
// changed: a caller about to compute asks so, so that a result another
// machine finished moments ago is not computed again). A remote that
// fails is a miss.
func (t *Tier) Lookup(ctx context.Context, name string, key [32]byte, fresh bool) (record.Entry, bool) {
	fi, err := t.index(name)
	if err != nil {
		t.opts.Logger.Warn("pcache: remote mirror unusable", "function", name, "err", err)
		return record.Entry{}, false
	}
	if !fi.current() {
		fi.refreshWithin(ctx, fresh)
	} else if fresh {
		// A current mirror that has the entry serves it: the fresh read
		// is for keys it lacks (one GET per remote hit otherwise).
		if e, ok, err := fi.m.Peek(key); err == nil && ok {
			return e, true
		}
		fi.refreshWithin(ctx, true)
	}
	e, ok, err := fi.m.Peek(key)
	if err != nil || !ok {
		t.stats.misses.Add(1)
		return record.Entry{}, false
	}
	return e, true
}

// Refresh reads function name's remote index again now (one GET when
// nothing changed), waiting for it at most Options.Timeout: a batch about
// to compute asks once for all its keys.
func (t *Tier) Refresh(ctx context.Context, name string) {
	if fi, err := t.index(name); err == nil {
		fi.refreshWithin(ctx, true)
	}
}

// current reports whether the mirror was refreshed within Options.Refresh.
func (fi *fnIndex) current() bool {
	at := fi.freshAt.Load()
	return at != 0 && fi.t.opts.Now().UnixNano()-at < int64(fi.t.opts.Refresh)
}

// refreshWithin refreshes the mirror on a goroutine of its own and waits
// for it at most Options.Timeout (or until ctx ends): a call waits about
// one request timeout for the remote, whatever the remote does, and then
// goes on (computing) while the refresh finishes in the background. One
// refresh runs at a time; a caller arriving during one waits for it.
func (fi *fnIndex) refreshWithin(ctx context.Context, force bool) {
	fi.amu.Lock()
	ch := fi.running
	if ch == nil {
		ch = make(chan struct{})
		fi.running = ch
		go func() {
			defer func() {
				fi.amu.Lock()
				fi.running = nil
				fi.amu.Unlock()
				close(ch)
			}()
			fi.refresh(fi.t.bg, force)
		}()
	}
	fi.amu.Unlock()
	timer := time.NewTimer(fi.t.opts.Timeout)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		fi.t.opts.Logger.Debug("pcache: remote index still being read; computing meanwhile", "function", fi.name)
	case <-ctx.Done():
	}
}

// refresh reads what the remote log gained since the cursor (one GET when
// nothing did), unless the mirror was refreshed within Options.Refresh. A
// new mirror starts from the newest checkpoint the head names; so does one
// that has gathered many segments, or has not read the head for an hour (a
// remote gc may have removed old log entries since).
func (fi *fnIndex) refresh(ctx context.Context, force bool) {
	t := fi.t
	fi.mu.Lock()
	defer fi.mu.Unlock()
	now := t.opts.Now()
	if !force && fi.current() {
		return
	}
	if t.br.open() {
		t.stats.skipped.Add(1)
		return
	}
	// Another process may be bringing the mirror up to date: wait for it
	// (then there is little left to read), but not for ever.
	held, err := lock.AcquireWithin(ctx, fi.lock, lock.Exclusive, 2*t.opts.Timeout)
	if err != nil {
		return
	}
	defer held.Release()
	seen, seenBase := fi.st.Cursor, fi.st.Base
	fi.load() // another process may have brought the mirror further
	before := fi.st.Cursor
	run := &refreshRun{
		now:      now,
		deadline: time.Now().Add(t.opts.Timeout),
		changed:  fi.st.Cursor != seen || fi.st.Base != seenBase,
		ahead:    map[uint64]logRead{},
		window:   1,
	}
	if fi.st.Cursor == 0 || now.Sub(fi.st.HeadAt) >= headEvery || fi.segments() > maxMirrorSegments {
		run.changed = fi.fromCheckpoint(ctx, false, run.deadline)
	}
	for step := 0; ; step++ {
		if step >= maxRefreshSteps || time.Now().After(run.deadline) {
			run.limited = true
			break
		}
		n := fi.st.Cursor + 1
		r := fi.nextLogRead(ctx, run, n, step)
		var next logStep
		switch {
		case errors.Is(r.err, ErrNotExist):
			next = fi.missingEntry(ctx, run, n)
		case r.err != nil:
			next = stepStop // tried again at the next lookup (the breaker spaces the tries)
		case r.bad != nil:
			next = fi.damagedEntry(run, n, r.bad)
		default:
			next = fi.takeEntry(ctx, run, n, r.entry)
		}
		switch next {
		case stepEnd:
			run.complete = true
		case stepLimited:
			run.limited = true
		}
		if next != stepNext {
			break
		}
	}
	if run.complete || run.limited {
		// Limited: the rest waits for the next refresh, not the next call.
		fi.freshAt.Store(now.UnixNano())
	}
	if run.limited {
		t.opts.Logger.Debug("pcache: remote log read in part; the rest at the next refresh", "function", fi.name, "cursor", fi.st.Cursor)
	}
	if fi.st.Cursor != before || run.changed {
		fi.save()
		fi.m.Refresh()
	}
}

// refreshRun is the state of one refresh while it reads the log.
type refreshRun struct {
	now      time.Time // the clock (Options.Now) when the refresh started
	deadline time.Time // no request is started after it (Options.Timeout)
	changed  bool      // the mirror changed other than by its cursor (a checkpoint, another process)
	complete bool      // the end of the log was reached
	limited  bool      // stopped by maxRefreshSteps, the deadline or damage: the rest at the next refresh
	badTries int       // reads of the damaged entry at the cursor so far
	damaged  int       // damaged entries (and reads of them) in this refresh
	// Log entries are read ahead, in parallel: one GET when nothing is new
	// (the usual case), then windows that double up to maxAhead while
	// entries keep coming (a fresh machine's long tail).
	window int                // how many log entries the next read ahead asks
	ahead  map[uint64]logRead // entries read ahead and not yet handled
}

// logStep is what the refresh loop does after one log entry.
type logStep int

const (
	stepNext    logStep = iota // go on with the entry after the cursor
	stepStop                   // stop: a request failed; tried again at the next lookup
	stepLimited                // stop: this refresh's bounds are reached; the rest at the next refresh
	stepEnd                    // stop: the end of the log is reached
)

// nextLogRead returns the read of log entry n (the one after the cursor),
// reading a window of entries ahead when n was not read ahead already.
func (fi *fnIndex) nextLogRead(ctx context.Context, run *refreshRun, n uint64, step int) logRead {
	r, have := run.ahead[n]
	if !have {
		k := run.window
		if run.badTries > 0 || run.damaged > 0 {
			k = 1 // a remote answering damage: one request at a time
		}
		k = min(k, maxRefreshSteps-step) // never past the bound
		maps.Copy(run.ahead, fi.readLogAhead(ctx, n, k))
		r = run.ahead[n]
		run.window = min(2*run.window, maxAhead)
	}
	delete(run.ahead, n) // a damaged entry read again is read afresh
	return r
}

// missingEntry handles log entry n not being there: entries lost under a
// damaged checkpoint are stepped over; otherwise it is the end of the log,
// unless a gap check finds later entries or the head a newer checkpoint.
func (fi *fnIndex) missingEntry(ctx context.Context, run *refreshRun, n uint64) logStep {
	t := fi.t
	if n <= fi.damagedCP {
		// Covered by a damaged checkpoint, and removed by a gc: what
		// it held is lost here until the remote is repaired; the log
		// after it is not.
		t.opts.Logger.Warn("pcache: remote log entries covered by a damaged checkpoint are gone; reading past them", "function", fi.name, "missing", fmt.Sprintf("%d-%d", n, fi.damagedCP))
		fi.st.Cursor = fi.damagedCP
		return stepNext
	}
	// The end of the log, or a gap: an entry deleted by hand (or
	// by a gc bug) must not hide every later one. On this
	// process's first refresh, and once a minute after, the next
	// few numbers are asked too (at once, in parallel).
	if fi.freshAt.Load() == 0 || run.now.Sub(fi.gapChecked) >= gapCheckEvery {
		fi.gapChecked = run.now
		next := fi.readLogAhead(ctx, n+1, gapProbe)
		if m, ok := firstPresent(next, n+1, gapProbe); ok {
			t.opts.Logger.Warn("pcache: remote log has a gap; reading past it", "function", fi.name, "missing", fmt.Sprintf("%d-%d", n, m-1))
			maps.Copy(run.ahead, next)
			fi.st.Cursor = m - 1
			return stepNext
		}
		// A remote gc may have removed the log past this mirror's
		// position (it compacts into a checkpoint first): the head
		// names that checkpoint, and the log goes on after it.
		if fi.st.Cursor > 0 && fi.fromCheckpoint(ctx, false, run.deadline) {
			run.changed = true
			return stepNext
		}
	}
	return stepEnd
}

// damagedEntry handles log entry n read damaged (bad): it is read again up
// to segmentTries times, then stepped over; too many in one refresh stop it.
func (fi *fnIndex) damagedEntry(run *refreshRun, n uint64, bad error) logStep {
	if run.damaged++; run.damaged > maxDamagedPerRefresh {
		return stepLimited // not a log a writer made: the next refresh, later
	}
	fi.t.failed("read the log", bad)
	if run.badTries++; run.badTries < segmentTries {
		return stepNext // a torn transfer, perhaps: read it again
	}
	fi.st.Cursor = n // a damaged entry must not stop the function's log
	run.badTries = 0
	return stepNext
}

// takeEntry fetches the segments log entry n names and moves the cursor
// over it; a segment a remote gc removed sends the mirror to the checkpoint.
func (fi *fnIndex) takeEntry(ctx context.Context, run *refreshRun, n uint64, entry logEntry) logStep {
	run.badTries = 0
	skipped, err := fi.fetchSegments(ctx, entry.Segments, run.deadline)
	if errors.Is(err, ErrNotExist) && fi.fromCheckpoint(ctx, true, run.deadline) {
		// Its segment was removed by a remote gc, which compacted it
		// into a checkpoint first.
		run.changed = true
		return stepNext
	}
	if errors.Is(err, ErrNotExist) {
		fi.t.failed("read the log", fmt.Errorf("log entry %d of %s names a segment the remote does not have", n, fi.name))
	} else if err != nil {
		return stepStop
	}
	fi.st.Cursor = n
	fi.st.Log[n] = entry.Segments
	if run.damaged += skipped; run.damaged > maxDamagedPerRefresh {
		return stepLimited // segments that never match their names: a remote answering what it has not got
	}
	return stepNext
}

const (
	// gapProbe is how many log numbers past a missing one a gap check asks.
	gapProbe = 4
	// gapCheckEvery is how often, at most, a refresh that reaches the end
	// of a log checks it for a gap.
	gapCheckEvery = time.Minute
)

// firstPresent returns the first number of from..from+k-1 that the remote
// has (an entry, or something it answered that is not one).
func firstPresent(reads map[uint64]logRead, from uint64, k int) (uint64, bool) {
	for i := range uint64(k) {
		if r, ok := reads[from+i]; ok && r.err == nil { // an entry, or something that is not one
			return from + i, true
		}
	}
	return 0, false
}

// maxAhead bounds the log entries one refresh reads at once.
const maxAhead = 16

// logRead is the outcome of reading one log entry: the entry, or bad (the
// remote answered with something that is not an entry), or err.
type logRead struct {
	entry logEntry
	bad   error
	err   error
}

// readLogAhead reads log entries from..from+k-1 in parallel.
func (fi *fnIndex) readLogAhead(ctx context.Context, from uint64, k int) map[uint64]logRead {
	t := fi.t
	out := make([]logRead, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Go(func() {
			r := &out[i]
			r.err = t.request(ctx, "read the log", func(ctx context.Context) error {
				var err error
				if r.entry, err = readLogEntry(ctx, t.b, fi.name, from+uint64(i)); errors.Is(err, errDamaged) {
					r.bad, err = err, nil // the remote answered: counted by the caller, not as its failure
				}
				return err
			})
		})
	}
	wg.Wait()
	m := make(map[uint64]logRead, k)
	for i, r := range out {
		m[from+uint64(i)] = r
	}
	return m
}

// segments counts the segment files of the mirror.
func (fi *fnIndex) segments() int {
	n := 0
	ents, _ := os.ReadDir(fi.dir)
	for _, e := range ents {
		if layout.IsSegmentName(e.Name()) {
			n++
		}
	}
	return n
}

// fromCheckpoint reads the head and, if it names a checkpoint newer than
// the one the mirror was last reset to (or any, with any), resets the
// mirror to that checkpoint plus the log entries after it that the mirror
// has read already. It reports whether the mirror changed.
func (fi *fnIndex) fromCheckpoint(ctx context.Context, any bool, deadline time.Time) bool {
	t := fi.t
	var seq uint64
	var damaged error
	err := t.request(ctx, "read the head", func(ctx context.Context) error {
		var err error
		if seq, err = readHeadChecked(ctx, t.b, fi.name); errors.Is(err, errDamaged) {
			damaged, err = err, nil // the remote answered: counted below, not as its failure
		}
		return err
	})
	if err != nil {
		return false
	}
	fi.st.HeadAt = t.opts.Now()
	if damaged != nil {
		t.failed("read the head", fmt.Errorf("%w; reading its newest checkpoint", damaged))
		seq = fi.newestCheckpoint(ctx)
	}
	if seq == 0 || (seq <= fi.st.Base && !any) || (seq == fi.damagedCP && !any) {
		return false // nothing newer (a damaged checkpoint this process worked around is not)
	}
	cp, ok := fi.readCheckpointAt(ctx, seq)
	if !ok {
		return false
	}
	if _, err := fi.fetchSegments(ctx, cp.Segments, deadline); err != nil {
		return false // the segments fetched so far stay: the next refresh goes on
	}
	keep := map[string]bool{}
	for _, f := range cp.Segments {
		keep[f] = true
	}
	if fi.st.Cursor > cp.Seq {
		// Log entries read after the checkpoint stay if their segments are
		// known; otherwise they are read again.
		for n := cp.Seq + 1; n <= fi.st.Cursor; n++ {
			segs, ok := fi.st.Log[n]
			if !ok {
				fi.st.Cursor = n - 1
				break
			}
			for _, f := range segs {
				keep[f] = true
			}
		}
	} else {
		fi.st.Cursor = cp.Seq
	}
	for n := range fi.st.Log {
		if n <= cp.Seq || n > fi.st.Cursor {
			delete(fi.st.Log, n)
		}
	}
	if ents, err := os.ReadDir(fi.dir); err == nil {
		for _, e := range ents {
			if !keep[e.Name()] && layout.IsSegmentName(e.Name()) {
				os.Remove(filepath.Join(fi.dir, e.Name()))
			}
		}
	}
	fi.st.Base = cp.Seq
	return true
}

// readCheckpointAt reads checkpoint seq, or, when the remote holds it
// damaged, the newest older one that reads (the log after it is then
// read as usual): a damaged checkpoint under the head must not leave a new
// reader with nothing until someone repairs the remote.
func (fi *fnIndex) readCheckpointAt(ctx context.Context, seq uint64) (checkpoint, bool) {
	t := fi.t
	read := func(n uint64) (cp checkpoint, damaged bool, err error) {
		err = t.request(ctx, "read a checkpoint", func(ctx context.Context) error {
			var err error
			if cp, err = readCheckpoint(ctx, t.b, fi.name, n); errors.Is(err, errDamaged) {
				damaged, err = true, nil
			}
			return err
		})
		return cp, damaged, err
	}
	cp, damaged, err := read(seq)
	var listed []uint64 // the function's checkpoints, listed once at most
	if errors.Is(err, ErrNotExist) {
		// Writers put a checkpoint before the head that names it, and gc
		// moves the head on before it removes older ones: a checkpoint
		// gone since the head was read has a newer one; without one, the
		// head named a checkpoint that never was (a flipped bit in its
		// number), which is damage.
		listed = fi.checkpoints(ctx)
		if n := len(listed); n > 0 && listed[n-1] > seq {
			if cp, damaged, err = read(listed[n-1]); err == nil && !damaged {
				return cp, true
			}
		}
		damaged, err = true, nil
	} else if damaged {
		listed = fi.checkpoints(ctx)
	}
	if err != nil {
		return cp, false
	}
	if !damaged {
		return cp, true
	}
	t.failed("read a checkpoint", fmt.Errorf("checkpoint %d of %s is damaged or missing; trying an older one", seq, fi.name))
	fi.damagedCP = seq // the log it covered may be gone: refresh steps over it
	below, _ := slices.BinarySearch(listed, seq)
	older := listed[:below]
	for i := len(older) - 1; i >= 0 && i >= len(older)-3; i-- {
		if cp, damaged, err := read(older[i]); err == nil && !damaged {
			return cp, true
		}
	}
	return checkpoint{}, false
}

// checkpoints lists the numbers of the function's checkpoints, in order
// (none if the listing fails).
func (fi *fnIndex) checkpoints(ctx context.Context) []uint64 {
	t := fi.t
	var ns []uint64
	prefix := strings.TrimSuffix(checkpointKey(fi.name, 0), fmt.Sprintf("%020d", 0))
	t.request(ctx, "list the checkpoints", func(ctx context.Context) error {
		return t.b.List(ctx, prefix, func(key string, _ int64, _ time.Time) error {
			if n, err := parseSeq(strings.TrimPrefix(key, prefix)); err == nil {
				ns = append(ns, n)
			}
			return nil
		})
	})
	slices.Sort(ns)
	return ns
}

// newestCheckpoint returns the number of the function's newest checkpoint
// (0: none), for a mirror whose head is damaged.
func (fi *fnIndex) newestCheckpoint(ctx context.Context) uint64 {
	if ns := fi.checkpoints(ctx); len(ns) > 0 {
		return ns[len(ns)-1]
	}
	return 0
}

// fetchSegments downloads the named segments the mirror lacks, each
// verified against its content name. A segment that stays damaged is
// skipped (its records are misses), and counted in skipped; ErrNotExist
// means one is gone; errBudget that the refresh ran out of time first.
func (fi *fnIndex) fetchSegments(ctx context.Context, files []string, deadline time.Time) (skipped int, err error) {
	var todo []string
	for _, file := range files {
		if !layout.IsSegmentName(file) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(fi.dir, file)); err == nil {
			continue
		}
		todo = append(todo, file)
	}
	// In parallel (a checkpoint names many), at most maxAhead at once.
	errs := make([]error, len(todo))
	sem := make(chan struct{}, maxAhead)
	var wg sync.WaitGroup
	for i, file := range todo {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fi.fetchSegment(ctx, file, deadline)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if errors.Is(err, errSkipped) {
			skipped, errs[i] = skipped+1, nil
		}
	}
	for _, want := range []error{ErrNotExist, errBudget} { // what the caller acts on first
		for _, err := range errs {
			if errors.Is(err, want) {
				return skipped, err
			}
		}
	}
	return skipped, errors.Join(errs...)
}

// errSkipped is fetchSegment giving up on a segment whose bytes never
// matched its name (its records are misses).
var errSkipped = errors.New("remote: segment skipped")

// fetchSegment downloads one segment into the mirror (see fetchSegments).
func (fi *fnIndex) fetchSegment(ctx context.Context, file string, deadline time.Time) error {
	t := fi.t
	for try := 1; ; try++ {
		if time.Now().After(deadline) {
			return errBudget
		}
		var data []byte
		err := t.request(ctx, "fetch a segment", func(ctx context.Context) error {
			var err error
			data, err = getAll(ctx, t.b, segmentKey(fi.name, file), maxSegment)
			return err
		})
		if err != nil {
			return err
		}
		recs, derr := manifest.DecodeSegment(fi.name, data)
		if derr == nil {
			derr = fi.m.AddSegment(file, data) // checks the content hash
		}
		if derr == nil {
			if t.opts.Apply != nil {
				t.opts.Apply(fi.name, recs)
			}
			return nil
		}
		t.failed("fetch a segment", fmt.Errorf("segment %s of %s: %w", file, fi.name, derr))
		if try == segmentTries {
			return errSkipped
		}
	}
}

// errBudget stops a refresh that used its time: the rest is read later.
var errBudget = errors.New("remote: refresh out of time; going on at the next one")

// published adds this process's own log entry seq (one segment) to the
// mirror, and moves the mirror's cursor over it when it is the next one, so
// the next refresh does not read it back.
func (fi *fnIndex) published(seq uint64, file string, data []byte) {
	if fi.m.AddSegment(file, data) != nil {
		return
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	held, ok, err := lock.Try(fi.lock, lock.Exclusive)
	if err != nil || !ok {
		return // another process is bringing the mirror up to date: it reads it
	}
	defer held.Release()
	fi.load()
	if fi.st.Cursor+1 != seq {
		return
	}
	fi.st.Cursor = seq
	fi.st.Log[seq] = []string{file}
	fi.save()
	fi.m.Refresh()
}

// position returns the log number the mirror is current with.
func (fi *fnIndex) position() uint64 {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.st.Cursor
}

// segmentSource reads segments from the mirror when it has them, else
// from next.
func (fi *fnIndex) segmentSource(next segmentSource) segmentSource {
	return func(ctx context.Context, name, file string) ([]byte, error) {
		if layout.IsSegmentName(file) {
			if b, err := readRegular(filepath.Join(fi.dir, file), maxSegment); err == nil {
				return b, nil
			}
		}
		return next(ctx, name, file)
	}
}
