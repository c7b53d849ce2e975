package pcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/outfile"
)

// core is what Func and BatchFunc share: one function name's key plan,
// manifest and codec, working on encoded results.
type core struct {
	s       *Store
	name    string
	plan    *keying.Plan
	version string
	codec   Codec
	fp      keying.Fingerprint // result-type fingerprint
	rkey    [32]byte           // resultKey of the codec and fingerprint
	m       *manifest.Manifest
	stats   counters
	flights flights
	// remoteUsed, with a remote, is set on each local hit: the remote's
	// watcher then keeps this function's remote index current, so a
	// removal published elsewhere reaches a process that only hits.
	remoteUsed *atomic.Bool
	// computeNs is a moving average of this function's computation times
	// in this process (0: none yet): whether asking the remote once more
	// before computing is worth a request.
	computeNs atomic.Int64
}

// computed records how long one computation took.
func (c *core) computed(took time.Duration) {
	for {
		old := c.computeNs.Load()
		avg := int64(took)
		if old != 0 {
			avg = old - old/8 + int64(took)/8
		}
		if c.computeNs.CompareAndSwap(old, max(avg, 1)) {
			return
		}
	}
}

// worthAsking reports whether a computation of this function costs more
// than asking the remote again (twice its typical request): then a miss
// reads the remote index once more, and claims the key's lease, before it
// computes, so that a team does not compute one result twice. A function
// not computed yet in this process is assumed to be worth it.
func (c *core) worthAsking() bool {
	t := c.s.remote
	if t == nil {
		return false
	}
	avg := c.computeNs.Load()
	return avg == 0 || time.Duration(avg) >= 2*t.Latency()
}

// spec is what a wrap of one function compiles before it needs a Store:
// its name checked, options applied, result type checked against the codec,
// key plan compiled. Memoizers compile it when they are built (so mistakes
// fail at start-up) and bind it to the default Store on first use.
type spec struct {
	name    string
	plan    *keying.Plan
	version string
	codec   Codec
	fp      keying.Fingerprint
}

func compileSpec(name string, argType, resultType reflect.Type, codec Codec, opts []Option) (*spec, error) {
	if err := layout.CheckName(name); err != nil {
		return nil, errorf("wrap: %w", err)
	}
	var o funcOptions
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, errorf("wrap %q: %w", name, err)
		}
	}
	if o.params != nil {
		return nil, errorf("wrap %q: Params names the parameters of Memo2 and Memo3; a wrapped function's argument struct names its own fields", name)
	}
	if o.codec != nil {
		codec = o.codec
	}
	if tc, ok := codec.(typeChecker); ok {
		if err := tc.CheckType(resultType); err != nil {
			return nil, errorf("wrap %q: result type %v: %w", name, resultType, err)
		}
	}
	plan, err := keying.Compile(argType, o.rules)
	if err != nil {
		return nil, errorf("wrap %q: %w", name, err)
	}
	return &spec{name: name, plan: plan, version: o.version, codec: codec, fp: keying.ResultFingerprint(resultType)}, nil
}

func newCore(s *Store, name string, argType, resultType reflect.Type, codec Codec, opts []Option) (*core, error) {
	if s == nil {
		return nil, errorf("wrap %q: nil Store", name)
	}
	sp, err := compileSpec(name, argType, resultType, codec, opts)
	if err != nil {
		return nil, err
	}
	return bindCore(s, sp)
}

// bindCore makes the core of a compiled spec in Store s.
func bindCore(s *Store, sp *spec) (*core, error) {
	if err := s.claimName(sp.name); err != nil {
		return nil, errorf("wrap: %w", err)
	}
	m, err := s.manifest(sp.name)
	if err != nil {
		return nil, err
	}
	c := &core{s: s, name: sp.name, plan: sp.plan, version: sp.version, codec: sp.codec,
		fp: sp.fp, rkey: resultKey(sp.codec.Name(), sp.fp), m: m}
	if s.remote != nil {
		c.remoteUsed = s.remote.Used(sp.name)
	}
	return c, nil
}

// found is what a lookup found.
type found struct {
	e    record.Entry // the entry served (on a hit)
	hit  bool
	bad  bool  // an entry was found unusable (the caller counts Stats.Corrupt once per call)
	prev int64 // Time of an unusable entry of the key (a replacement must be stamped after it)
}

// lookup finds k's entry (refreshing the manifest view if it may be stale)
// and returns its result bytes, verified, with every out file restored to
// its requested path. decode turns the bytes into the caller's value and
// fails if they do not decode as the result type. Anything wrong with the
// entry or its objects is a miss, never an error: storage trouble degrades
// to computing.
func (c *core) lookup(ctx context.Context, k *callKey, dst sink) found {
	return c.lookupIn(ctx, k, dst, c.m.Lookup)
}

// lookupIn is lookup with the manifest lookup to use (Lookup, or Peek for a
// batch that refreshed the view once for all its elements).
func (c *core) lookupIn(ctx context.Context, k *callKey, dst sink, get func(record.KeyHash) (record.Entry, bool, error)) found {
	e, ok, err := get(k.hash)
	if err != nil {
		c.warn("lookup failed; computing", k, err)
	}
	if ok {
		switch c.serve(ctx, k, &e, dst, false) {
		case served:
			if u := c.remoteUsed; u != nil && !u.Load() {
				u.Store(true)
			}
			return found{hit: true, e: e}
		case unusable:
			return found{bad: true, prev: e.Time}
		}
		return found{prev: e.Time}
	}
	// An entry written before entries recorded their result type is served
	// only if its bytes are exactly the encoding of a value of the result
	// type; it is then re-recorded under the new key.
	if e, ok := c.legacyEntry(k); ok {
		if c.serve(ctx, k, &e, dst, true) == served {
			return found{hit: true, e: e}
		}
	}
	return found{}
}

// legacyEntry returns the entry of k's arguments written before entries
// recorded their result type (keyed by the arguments alone), with this
// function's codec.
func (c *core) legacyEntry(k *callKey) (record.Entry, bool) {
	e, ok, _ := c.m.Peek(k.legacy)
	return e, ok && e.Type == ([32]byte{}) && e.Codec == c.codec.Name()
}

// legacyFits reports whether legacy entry e's bytes are exactly the
// encoding of a value of the result type (decode, then encode again, gives
// the same bytes): then nothing was dropped, zero-filled or converted.
func (c *core) legacyFits(e *record.Entry, dst sink) bool {
	data, err := c.s.cas.Get(e.Result, e.Size)
	if err == nil {
		data, err = c.entryData(e, data)
	}
	return err == nil && dst.decode(data) == nil && c.roundTrips(data, dst)
}

// outcome is what serve made of an entry.
type outcome int

const (
	served   outcome = iota
	unusable         // its object is missing or corrupt, or it does not decode
	passed           // not for this call (another codec, a legacy entry of another type, out files that cannot be restored)
)

// serve reads and decodes entry e for k and restores its out files. legacy
// entries must also round-trip; served ones are re-recorded under k.hash.
func (c *core) serve(ctx context.Context, k *callKey, e *record.Entry, dst sink, legacy bool) outcome {
	if oc, why := c.decodeEntry(e, dst, legacy); oc != served {
		c.missed(k, e, why)
		return oc
	}
	if len(k.outs) > 0 {
		switch c.restoreOuts(ctx, k, e) {
		case unusable:
			return unusable
		case passed:
			return passed
		}
	}
	switch {
	case k.noWrite:
	case legacy:
		c.upgrade(k, e)
	default:
		c.touch(e)
	}
	return served
}

// reason is why a stored entry is not served: one sentence for people
// (Explain shows it), and the error behind it.
type reason struct {
	why string
	err error
	log string // what a call logs of it ("": nothing)
}

// decodeEntry reads entry e's result, verified, and decodes it into dst,
// changing nothing (a call's serve and Explain both ask it): served, or
// why not. A legacy entry (written before entries recorded their result
// type) must also encode back to exactly its bytes.
func (c *core) decodeEntry(e *record.Entry, dst sink, legacy bool) (outcome, reason) {
	if !c.readsCodec(e.Codec) {
		return passed, reason{why: fmt.Sprintf("an entry exists, written with codec %q; this function uses %q", e.Codec, c.codec.Name())}
	}
	data, err := c.s.cas.Get(e.Result, e.Size)
	switch {
	case errors.Is(err, cas.ErrNotFound):
		return unusable, reason{why: "an entry exists but its result object is missing (gc, or a partial copy); a call recomputes it", err: err}
	case errors.Is(err, cas.ErrCorrupt):
		return unusable, reason{"an entry exists but its result object is corrupt; a call recomputes it", err, "stored object is corrupt; recomputing"}
	case err != nil:
		return unusable, reason{"an entry exists but its result cannot be read: " + err.Error(), err, "reading a stored result failed; computing"}
	}
	if data, err = c.entryData(e, data); err == nil {
		err = dst.decode(data)
	}
	switch {
	case err != nil && legacy:
		return passed, reason{why: "an entry of an earlier pcache release exists, written for another result type", err: err}
	case err != nil:
		return unusable, reason{"an entry exists but its result does not decode as this result type: " + err.Error(), err, "stored result does not decode; recomputing"}
	case legacy && !c.roundTrips(data, dst):
		return passed, reason{why: "an entry of an earlier pcache release exists, written for another result type"}
	}
	return served, reason{}
}

// missed acts on an entry a call could not serve: a corrupt result object
// is moved aside (so a recompute can store it again), and what a call
// survives is logged.
func (c *core) missed(k *callKey, e *record.Entry, r reason) {
	if errors.Is(r.err, cas.ErrCorrupt) && !c.s.readOnly && c.s.cas.Verify(e.Result) != nil {
		// The object may be fine and the entry's recorded size wrong (a
		// damaged or forged record): only an object that fails its own hash
		// is moved aside, so entries sharing a good object keep hitting.
		c.s.cas.Quarantine(e.Result) // best effort: another caller may have moved it already
	}
	if r.log != "" {
		c.warn(r.log, k, r.err)
	}
}

// roundTrips reports whether the value dst decoded from data encodes back
// to exactly data.
func (c *core) roundTrips(data []byte, dst sink) bool {
	b, err := dst.reencode()
	return err == nil && c.sameResult(b, data)
}

// sameResult reports whether two encodings of results are of the same
// value: equal bytes, and for the raw codec also both nil or both not (a
// nil []byte and an empty one are different results).
func (c *core) sameResult(a, b []byte) bool {
	if _, raw := c.codec.(rawCodec); raw && (a == nil) != (b == nil) {
		return false
	}
	return bytes.Equal(a, b)
}

// entryCodec is the codec name recorded with an entry whose encoded result
// is data: the codec's, or rawNil for a nil []byte result of the raw codec.
func (c *core) entryCodec(data []byte) string {
	if _, raw := c.codec.(rawCodec); raw && data == nil {
		return rawNil
	}
	return c.codec.Name()
}

// readsCodec reports whether an entry recorded with codec name is this
// function's codec's to decode.
func (c *core) readsCodec(name string) bool {
	if name == c.codec.Name() {
		return true
	}
	_, raw := c.codec.(rawCodec)
	return raw && name == rawNil
}

// entryData returns the bytes to decode for entry e, whose result object
// holds data: for the raw codec, nil for an entry recorded as a nil result
// (whose object must be empty) and never nil otherwise.
func (c *core) entryData(e *record.Entry, data []byte) ([]byte, error) {
	if _, raw := c.codec.(rawCodec); !raw {
		return data, nil
	}
	if e.Codec == rawNil {
		if len(data) != 0 {
			return nil, fmt.Errorf("an entry of a nil result names an object of %d bytes", len(data))
		}
		return nil, nil
	}
	if data == nil {
		return []byte{}, nil
	}
	return data, nil
}

// sink decodes stored bytes into a value of a function's result type.
type sink interface {
	decode([]byte) error
	reencode() ([]byte, error)
}

// value is the sink of a result type R.
type value[R any] struct {
	codec Codec
	v     R
	raw   []byte // the bytes v was decoded from
}

func (s *value[R]) decode(b []byte) error {
	var r R
	if err := s.codec.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("decode cached result as %T: %w", r, err)
	}
	s.v, s.raw = r, b
	return nil
}

func (s *value[R]) reencode() ([]byte, error) { return s.codec.Marshal(s.v) }

// restoreOuts makes every requested out path hold the entry's recorded
// contents. When that cannot be done (the recorded content is gone: the
// entry is unusable; the path cannot be written, or the entry predates the
// out file: passed) the call is computed, as it would be without a cache.
func (c *core) restoreOuts(ctx context.Context, k *callKey, e *record.Entry) outcome {
	if !c.s.readOnly {
		if _, err := c.s.gate.Enter(ctx); err != nil {
			c.warn("restoring out files: waiting for gc; computing", k, err)
			return passed
		}
		defer c.s.gate.Leave()
	}
	// A copy: the entry's records (their paths included) may be shared with
	// the manifest's view, and Restore updates the paths.
	recs := slices.Clone(e.Outs)
	for i := range recs {
		recs[i].Paths = slices.Clone(recs[i].Paths)
	}
	changed := false
	for _, o := range k.outs {
		i := outIndex(recs, o.Arg)
		if i < 0 {
			return passed // stored before this out file was declared
		}
		c.s.outPaths.add(o.Path)
		rec, ch, err := outfile.Restore(c.s.cas, recs[i], o.Path, c.s.outPaths.has)
		if err != nil {
			if errors.Is(err, outfile.ErrUnavailable) {
				return unusable
			}
			c.warn(fmt.Sprintf("restoring out file %q to %s failed; computing", o.Arg, o.Path), k, err)
			return passed
		}
		recs[i], changed = rec, changed || ch
	}
	if changed && !k.noWrite {
		// Record the new paths so a later hit can leave them untouched or
		// recover from them: the same entry (same Time), used now. Losing
		// this record costs a re-hash, nothing else.
		up := *e
		up.Outs = recs
		up.Used = c.s.opts.now().UnixNano()
		c.m.Append(up)
	}
	return served
}

func outIndex(recs []outfile.File, arg string) int {
	for i, r := range recs {
		if r.Arg == arg {
			return i
		}
	}
	return -1
}

// touch records a use of e when its last recorded use is older than
// cas.TouchQuantum, so gc's age and size limits see which entries are in
// use (objects in packs have no mtime of their own).
func (c *core) touch(e *record.Entry) {
	if c.s.readOnly {
		return
	}
	now := c.s.opts.now().UnixNano()
	if now-e.LastUse() < int64(cas.TouchQuantum) {
		return
	}
	t := *e
	t.Used = now
	if c.m.Append(t) == nil && c.s.remote != nil { // best effort
		// The remote's gc evicts by last use too. A use record does not
		// check the remote for its objects (that would cost a request per
		// object per hour): if they never got there, the record is a miss
		// on other machines, which compute and publish them.
		c.s.remote.PublishUse(c.name, t)
	}
}

// upgrade records a legacy entry that was served under the key it has now.
func (c *core) upgrade(k *callKey, e *record.Entry) {
	if c.s.readOnly {
		return
	}
	if _, err := c.s.gate.Enter(context.Background()); err != nil {
		return
	}
	defer c.s.gate.Leave()
	up := []record.Entry{*e}
	up[0].KeyHash, up[0].Type, up[0].Time, up[0].Used = k.hash, c.fp, 0, 0
	if len(up[0].Key) == 0 {
		up[0].Key = k.bytes
	}
	if c.m.Append(up...) == nil { // best effort: the legacy entry keeps serving
		c.publish(up)
	}
}

// pending is a computed result waiting to be stored.
type pending struct {
	key  *callKey
	data []byte
	prev int64 // Time of the unusable entry it replaces, if any
}

// enterToWrite enters the gc turnstile to store objects and record the
// entries that name them (gc cannot run until leave). After a new hold of
// the gc lock, gc may have repacked since this process last wrote, so the
// pack set is refreshed: an object of a pack that is gone must not be taken
// for stored.
func (c *core) enterToWrite(ctx context.Context) (leave func(), err error) {
	gen, err := c.s.gate.Enter(ctx)
	if err != nil {
		return nil, err
	}
	if c.s.gcGen.Swap(gen) != gen {
		c.s.cas.RefreshPacks()
	}
	return c.s.gate.Leave, nil
}

// errMissing reports whether a commit failed because the function did not
// write a declared out file: an error of the call, not of the cache.
func errMissing(err error) bool { return errors.Is(err, outfile.ErrMissing) }

// commit stores results and out files in the object store and then appends
// their entries to the manifest in one write, inside the gc turnstile so gc
// never deletes an object between its write and its entry's commit. An out
// file the function did not write fails the whole commit: nothing is cached.
func (c *core) commit(ctx context.Context, ps []pending) error {
	if c.s.readOnly {
		return ErrReadOnly
	}
	if c.s.closed.Load() {
		return ErrClosed
	}
	leave, err := c.enterToWrite(ctx)
	if err != nil {
		return err
	}
	defer leave()
	entries := make([]record.Entry, 0, len(ps))
	results := make([][]byte, len(ps))
	now := c.s.opts.now().UnixNano()
	for i, p := range ps {
		e := record.Entry{KeyHash: p.key.hash, Key: p.key.bytes, Codec: c.entryCodec(p.data), Size: int64(len(p.data)), Type: c.fp}
		// The newest record of a key wins. A record we are replacing (it was
		// unusable) may carry a time from a clock ahead of ours: stamp the
		// replacement after it, or it would never win.
		if p.prev >= now {
			e.Time = p.prev + 1
		}
		for _, o := range p.key.outs {
			c.s.outPaths.add(o.Path)
			rec, err := outfile.Capture(c.s.cas, o.Arg, o.Path)
			if err != nil {
				return fmt.Errorf("out file %q: %w", o.Arg, err)
			}
			e.Outs = append(e.Outs, rec)
		}
		results[i] = p.data
		entries = append(entries, e)
	}
	// Every result with one append to this process's pack (large ones as
	// files), then every entry with one append to the journal.
	ids, err := c.s.cas.PutBatch(results)
	if err != nil {
		return fmt.Errorf("store result: %w", err)
	}
	for i := range entries {
		entries[i].Result = ids[i]
	}
	if err := c.m.Append(entries...); err != nil { // stamps entries' Time
		return fmt.Errorf("commit: %w", err)
	}
	c.add(statStores, int64(len(entries)))
	c.publish(entries)
	return nil
}

// storeFailed handles a result that was computed but could not be stored:
// counted, logged, and an error only under ReturnStoreErrors.
func (c *core) storeFailed(k *callKey, err error) error {
	if errors.Is(err, ErrReadOnly) {
		return nil // a read-only cache computes misses without storing: not a failure
	}
	c.count(statStoreErrors)
	c.warn("result computed but not stored", k, err)
	if c.s.opts.strictStore {
		return errorf("%s: result computed but not stored: %w", c.name, err)
	}
	return nil
}

// lockKey takes the cross-process lock of k (none in a read-only Store).
// Only the caller's context ending is an error. The lock only saves other
// processes computing the same key at once, so when it cannot be had (held
// past the wait limit, or its file is not usable: a directory or a link
// planted at locks/keys.ofd) the call goes on without it, logged.
func (c *core) lockKey(ctx context.Context, k *callKey) (func(committed bool), error) {
	if c.s.keys == nil {
		return func(bool) {}, nil
	}
	unlock, err := c.s.keys.Lock(ctx, c.keyLockID(k.hash))
	if err != nil {
		if ctx.Err() != nil {
			return nil, errorf("%s: waiting for another process computing key %x: %w", c.name, k.hash[:6], ctx.Err())
		}
		c.warn("key lock unavailable; computing without it", k, err)
		return func(bool) {}, nil
	}
	return unlock, nil
}

// warn logs a problem of this function's cache that the call survives.
func (c *core) warn(msg string, k *callKey, err error) {
	args := []any{"function", c.name}
	if k != nil {
		args = append(args, "key", fmt.Sprintf("%x", k.hash[:6]))
	}
	c.s.log.Warn("pcache: "+msg, append(args, "err", err)...)
}

// flight is one in-process computation of a key: goroutines that miss the
// same key while it runs wait for it instead of computing again.
type flight struct {
	done      chan struct{}
	committed bool  // the leader's result (or another process's) is in the manifest
	err       error // the function's error, shared with the waiters; nil otherwise
	waiters   atomic.Int32
}

// flights deduplicates concurrent computations of one function's keys.
type flights struct {
	mu sync.Mutex
	m  map[[32]byte]*flight
}

// join returns the running flight of key, or starts one and reports leader
// == true; the leader must land it exactly once (a deferred land covers
// panics).
func (g *flights) join(key [32]byte) (f *flight, leader bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		f.waiters.Add(1)
		return f, false
	}
	if g.m == nil {
		g.m = map[[32]byte]*flight{}
	}
	f = &flight{done: make(chan struct{})}
	g.m[key] = f
	return f, true
}

// land ends the leader's flight and wakes its waiters.
func (g *flights) land(key [32]byte, f *flight, committed bool, err error) {
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	f.committed, f.err = committed, err
	close(f.done)
}

// wait waits for a flight's leader. A waiter whose context ends stops
// waiting at once.
func (f *flight) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// contains reports whether k has a usable entry, without computing,
// restoring out files or counting.
func (c *core) contains(k *callKey, dst sink) (bool, error) {
	e, ok, err := c.m.Lookup(k.hash)
	if err != nil {
		return false, errorf("%s: lookup: %w", c.name, err)
	}
	if ok && c.readsCodec(e.Codec) {
		return c.s.cas.Has(e.Result)
	}
	if e, ok := c.legacyEntry(k); ok {
		return c.legacyFits(&e, dst), nil
	}
	return false, nil
}

// outsDiffer names the first out file of k whose contents (as the
// function just wrote them) differ from what entry e recorded, or "".
func (c *core) outsDiffer(k *callKey, e *record.Entry) string {
	for _, o := range k.outs {
		i := slices.IndexFunc(e.Outs, func(r record.OutFile) bool { return r.Arg == o.Arg })
		if i < 0 {
			continue
		}
		id, size, err := outfile.Hash(o.Path)
		if err != nil {
			return fmt.Sprintf("out file %q (%v)", o.Arg, err)
		}
		if [32]byte(id) != e.Outs[i].Object || size != e.Outs[i].Size {
			return fmt.Sprintf("out file %q (stored: %d bytes, recomputed: %d bytes)", o.Arg, e.Outs[i].Size, size)
		}
	}
	return ""
}

// writable says why the function's entries cannot be changed now (op names
// what was asked): a read-only or closed Store, or a context that ended.
func (c *core) writable(ctx context.Context, op string) error {
	err := ctx.Err()
	switch {
	case c.s.readOnly:
		err = ErrReadOnly
	case c.s.closed.Load():
		err = ErrClosed
	}
	if err != nil {
		return errorf("%s: %s: %w", c.name, op, err)
	}
	return nil
}

// forget records a tombstone of k (and of its legacy key, if an entry
// written before result types were keyed is there).
func (c *core) forget(ctx context.Context, k *callKey) error {
	if err := c.writable(ctx, "forget"); err != nil {
		return err
	}
	hs := [][32]byte{k.hash}
	if e, ok, _ := c.m.Peek(k.legacy); ok && e.Type == ([32]byte{}) {
		hs = append(hs, k.legacy)
	}
	tombs := make([]record.Entry, len(hs))
	for i, h := range hs {
		tombs[i] = record.Entry{KeyHash: h, Deleted: true}
	}
	if err := c.m.Append(tombs...); err != nil {
		return errorf("%s: forget: %w", c.name, err)
	}
	c.publish(tombs)
	return nil
}

// forgetAll records a function-wide tombstone.
func (c *core) forgetAll(ctx context.Context) error {
	if err := c.writable(ctx, "forget all"); err != nil {
		return err
	}
	// Only this result type's entries (and those that recorded none): a
	// function of the same name with another result type is another's.
	tomb := record.ForgetTypes(c.fp)
	if err := c.m.Append(tomb...); err != nil {
		return errorf("%s: forget all: %w", c.name, err)
	}
	c.publish(tomb)
	return nil
}
