package pcache

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/pcache/pcache/internal/codec"
	"github.com/pcache/pcache/internal/engine"
)

// BatchFunc is a cached batch function made by WrapBatch. It is safe for
// concurrent use.
//
// Like Func, BatchFunc is a typed shell: a call hands its elements to the
// batch path every BatchFunc shares (batchCall, below) through a
// batchElems[A, R], which holds the arguments, runs the function and
// decodes each result into its own slot.
type BatchFunc[A, R any] struct {
	s  *Store
	c  *engine.Fn
	fn func(context.Context, []A) ([]R, error)
}

// WrapBatch is permacache's parallel=: fn maps a slice of inputs to a slice of
// results of the same length. Each element is cached on its own key (the key
// rules, Version and codec work as in Wrap); a call passes only the missing
// elements to fn, in one call, each distinct key once, and returns results in
// input order.
//
// An element stored by WrapBatch under a name is the same entry a Wrap[A, R]
// with the same name and options reads, and the other way round.
//
// Out-file arguments work as in Wrap, for every element: when one call
// repeats a key with different out paths, fn computes the key once and every
// element's path ends up holding the contents.
//
// Concurrent batch calls deduplicate within each call, not across calls:
// two processes that miss the same elements at the same moment may both
// compute them (the results are stored once either way).
func WrapBatch[A, R any](s *Store, name string, fn func(context.Context, []A) ([]R, error), opts ...Option) (*BatchFunc[A, R], error) {
	if fn == nil {
		return nil, errorf("wrap batch %q: nil function", name)
	}
	if isBlob[R]() {
		return nil, errorf("wrap batch %q: Blob results are written one call at a time; use Wrap", name)
	}
	c, err := bind(s, name, reflect.TypeFor[A](), reflect.TypeFor[R](), defaultCodec[R](), opts)
	if err != nil {
		return nil, err
	}
	return &BatchFunc[A, R]{s: s, c: c, fn: fn}, nil
}

// MustWrapBatch is like WrapBatch but panics on error.
func MustWrapBatch[A, R any](s *Store, name string, fn func(context.Context, []A) ([]R, error), opts ...Option) *BatchFunc[A, R] {
	f, err := WrapBatch(s, name, fn, opts...)
	if err != nil {
		panic(err)
	}
	return f
}

// Stats returns the counters of this BatchFunc's calls (per distinct
// element, except Computes, which counts calls of fn).
func (f *BatchFunc[A, R]) Stats() Stats { return fnStats(f.c) }

// Call returns one result per element of args, in order. Only elements
// without a usable entry are passed to fn, in one call, each distinct key
// once. If fn fails, panics or returns a slice of the wrong length, nothing
// from that call is cached. Results that cannot be stored are returned all
// the same (see ReturnStoreErrors). Under ErrorOnMiss any miss fails the
// whole call with ErrCacheMiss; under NoCache fn gets every element and
// nothing is stored.
func (f *BatchFunc[A, R]) Call(ctx context.Context, args []A) ([]R, error) {
	e := &batchElems[A, R]{fn: f.fn, args: args, codec: f.c.Codec()}
	if err := callBatch(ctx, f.s, f.c, e); err != nil {
		return nil, err
	}
	return e.results(), nil
}

// Contains reports, for each element of args, whether it has an entry whose
// result is present, without computing anything (out-file arguments are
// ignored).
func (f *BatchFunc[A, R]) Contains(ctx context.Context, args []A) ([]bool, error) {
	return containsBatch(ctx, f.c, &batchElems[A, R]{fn: f.fn, args: args, codec: f.c.Codec()})
}

// elems is a batch call's elements as the shared batch path sees them:
// element i's argument, a sink that decodes into its result, and the
// function run on a subset of them (a *batchElems[A, R]).
type elems interface {
	len() int
	arg(i int) reflect.Value // element i's argument, addressable (keyed in place, not boxed)
	makeSinks()              // makes every element's sink, before any goroutine asks for one
	sink(i int) result       // decoding into it sets element i's result
	// run calls the function on the elements at (all of them when at is
	// nil), keeps what it returns and says how many results that is.
	run(ctx context.Context, at []int) (int, error)
	output(j int) any   // the j-th result of the last run, to encode
	useOutput(i, j int) // element i's result is the j-th of the last run, as computed
	value(i int) any    // element i's result, to encode
	passThrough()       // the call's results are those of the last run (of all elements)
}

// batchElems is the elems of one call of a BatchFunc[A, R].
type batchElems[A, R any] struct {
	fn    func(context.Context, []A) ([]R, error)
	args  []A
	codec codec.Codec       // the function's, which each sink decodes with
	vals  []engine.Value[R] // one sink, holding one result, per element (made by makeSinks)
	out   []R               // what the last run returned
	all   bool              // the results are out
}

func (e *batchElems[A, R]) len() int                { return len(e.args) }
func (e *batchElems[A, R]) arg(i int) reflect.Value { return reflect.ValueOf(&e.args[i]).Elem() }
func (e *batchElems[A, R]) output(j int) any        { return e.out[j] }
func (e *batchElems[A, R]) value(i int) any         { return e.vals[i].V }
func (e *batchElems[A, R]) useOutput(i, j int)      { e.vals[i].V = e.out[j] }
func (e *batchElems[A, R]) passThrough()            { e.all = true }

func (e *batchElems[A, R]) sink(i int) result { return &e.vals[i] }

func (e *batchElems[A, R]) makeSinks() {
	e.vals = make([]engine.Value[R], len(e.args)) // one allocation for every element's sink
	for i := range e.vals {
		e.vals[i].Codec = e.codec
	}
}

func (e *batchElems[A, R]) run(ctx context.Context, at []int) (int, error) {
	in := e.args
	if at != nil {
		in = make([]A, len(at))
		for j, i := range at {
			in[j] = e.args[i]
		}
	}
	out, err := e.fn(ctx, in)
	e.out = out
	return len(out), err
}

// results returns the call's results, in order.
func (e *batchElems[A, R]) results() []R {
	if e.all {
		return e.out
	}
	res := make([]R, len(e.args))
	for i := range e.vals {
		res[i] = e.vals[i].V
	}
	return res
}

// callBatch is BatchFunc.Call of function c of s on the elements of e.
func callBatch(ctx context.Context, s *Store, c *engine.Fn, e elems) error {
	if c.Closed() && c.StrictStore() {
		return errorf("%s: %w", c.Name(), ErrClosed)
	}
	pol := s.policyOf(ctx)
	if c.Closed() || pol.off {
		c.Count(engine.StatComputes)
		if pol.off {
			for range e.len() {
				finish(ctx, c, SourceOff, CallInfo{Source: SourceOff})
			}
		}
		if err := runChecked(ctx, c, e, nil); err != nil {
			return err
		}
		e.passThrough()
		return nil
	}
	if e.len() == 0 {
		return nil
	}
	e.makeSinks()
	b := &batchCall{c: c, e: e, pol: pol}
	if err := b.keyAll(); err != nil {
		return err
	}
	b.lookupLocal(ctx)
	if len(b.missing) > 0 && c.HasRemote() && !pol.replace {
		b.lookupRemote(ctx)
	}
	if len(b.missing) > 0 && pol.failMiss {
		for _, i := range b.missing {
			finish(ctx, c, SourceMiss, CallInfo{Key: b.keys[i].Hash, Source: SourceMiss})
		}
		return errorf("%s: %d of %d distinct elements missing: %w", c.Name(), len(b.missing), len(b.distinct), ErrCacheMiss)
	}
	if pol.verify && len(b.missing) < len(b.distinct) {
		if err := b.verify(ctx); err != nil {
			return err
		}
	}
	b.data = make([][]byte, e.len())
	if len(b.missing) > 0 {
		var err error
		if b.committed, err = b.compute(ctx); err != nil {
			return err
		}
	}
	return b.fillRepeats(ctx)
}

// runChecked runs the function on the elements at (see elems.run) and
// refuses a result slice of the wrong length.
func runChecked(ctx context.Context, c *engine.Fn, e elems, at []int) error {
	got, err := e.run(ctx, at)
	want := len(at)
	if at == nil {
		want = e.len()
	}
	if err == nil && got != want {
		return errorf("%s: batch function returned %d results for %d inputs (nothing was cached)", c.Name(), got, want)
	}
	return err
}

// batchCall is one call of a BatchFunc, element by element: what each
// distinct key found, and what is left to compute.
type batchCall struct {
	c         *engine.Fn
	e         elems
	pol       policy
	keys      []engine.CallKey
	first     []int // the first element with each element's key
	distinct  []int // the first element of each key
	hit       []bool
	prev      []int64  // Time of an unusable (or, under ModeRefresh, any) entry a new one must win over
	stored    [][]byte // under ModeVerify: the hits' stored bytes
	from      []Source // where each hit came from (reported after verify, under ModeVerify)
	missing   []int    // first elements of keys to compute
	data      [][]byte // encoded computed results, by first index
	committed bool
}

// keyAll keys every element (large batches on every core) and notes the
// first element of each key.
func (b *batchCall) keyAll() error {
	c, n := b.c, b.e.len()
	b.keys = make([]engine.CallKey, n)
	perCPU := 1
	if n < 256 {
		perCPU = 0 // inline: keying is quick, goroutines are not
	}
	var (
		mu   sync.Mutex
		bad  = n // the first element that failed, and its error
		berr error
	)
	forRanges(n, perCPU, func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			k, err := c.KeyValue(b.e.arg(i), true)
			if err != nil {
				mu.Lock()
				if i < bad {
					bad, berr = i, err
				}
				mu.Unlock()
				return nil
			}
			k.NoWrite = !b.pol.write
			b.keys[i] = k
		}
		return nil
	})
	if berr != nil {
		return fmt.Errorf("%w (element %d)", berr, bad)
	}
	firstOf := make(map[[32]byte]int, n)
	b.first = make([]int, n)
	for i := range b.keys {
		j, ok := firstOf[b.keys[i].Hash]
		if !ok {
			j = i
			firstOf[b.keys[i].Hash] = i
			b.distinct = append(b.distinct, i)
		}
		b.first[i] = j
	}
	b.hit, b.prev = make([]bool, n), make([]int64, n)
	b.stored, b.from = make([][]byte, n), make([]Source, n)
	return nil
}

// lookupLocal looks every distinct key up in the local cache (one refresh
// of the manifest view, then each key from memory, in parallel) and notes
// the keys it misses.
func (b *batchCall) lookupLocal(ctx context.Context) {
	c := b.c
	if err := c.RefreshView(); err != nil {
		c.Warn("batch: manifest refresh failed; computing what is not found", nil, err)
	}
	observing := observed(ctx, c)
	forRanges(len(b.distinct), 2, func(lo, hi int) error {
		for ; lo < hi; lo += chunkKeys {
			b.lookupChunk(ctx, b.distinct[lo:min(hi, lo+chunkKeys)], observing)
		}
		return nil
	})
	for _, i := range b.distinct {
		if !b.hit[i] {
			b.missing = append(b.missing, i)
		}
	}
}

// chunkKeys is the most keys lookupChunk takes: one hold of the manifest
// view's lock reads them all (engine.Fn.PeekMany).
const chunkKeys = engine.PeekChunk

// lookupChunk looks up the distinct keys at indices (at most chunkKeys of
// them) in the local cache, counting the hits once.
func (b *batchCall) lookupChunk(ctx context.Context, indices []int, observing bool) {
	c := b.c
	if b.pol.replace {
		for _, i := range indices {
			b.prev[i] = c.Current(&b.keys[i], true) // the new result must win over it
		}
		return
	}
	var (
		ks     [chunkKeys]*engine.CallKey
		peeked [chunkKeys]engine.Peeked
	)
	for j, i := range indices {
		ks[j] = &b.keys[i]
	}
	c.PeekMany(ks[:len(indices)], peeked[:len(indices)])
	var hits int64       // counted once per chunk: the counters are shared by every core
	var uses engine.Uses // the chunk's hits' uses: one write for them all
	for j, i := range indices {
		dst := b.e.sink(i)
		fd := c.LookupPeeked(ctx, &b.keys[i], &peeked[j], dst, &uses)
		b.hit[i], b.prev[i], b.stored[i] = fd.Hit, fd.Prev, dst.Stored()
		if fd.Bad {
			c.Count(engine.StatCorrupt)
		}
		if fd.Hit {
			b.from[i] = SourceLocal
			if !b.pol.verify {
				hits++
				if observing {
					observe(ctx, c, CallInfo{Hit: true, Source: SourceLocal, Key: b.keys[i].Hash, Bytes: dst.Len()})
				}
			}
		}
	}
	c.RecordUses(uses)
	c.CountN(engine.StatHits, hits) // as finish(…, SourceLocal, …) counts each
}

// lookupRemote asks the remote for what the local cache lacks (its
// requests overlap), after one fresh read of the index for the whole batch.
func (b *batchCall) lookupRemote(ctx context.Context) {
	c := b.c
	c.RefreshRemote(ctx)
	forEach(len(b.missing), func(j int) error {
		i := b.missing[j]
		dst := b.e.sink(i)
		if b.prev[i] == 0 && c.FromRemote(ctx, &b.keys[i], dst, false) {
			b.hit[i], b.stored[i], b.from[i] = true, dst.Stored(), SourceRemote
			if !b.pol.verify {
				finish(ctx, c, SourceRemote, CallInfo{Hit: true, Source: SourceRemote, Key: b.keys[i].Hash, Bytes: dst.Len()})
			}
		}
		return nil
	})
	still := b.missing[:0]
	for _, i := range b.missing {
		if !b.hit[i] {
			still = append(still, i)
		}
	}
	b.missing = still
}

// fillRepeats gives each repeated key's element its own decoded copy, and
// its own out paths restored.
func (b *batchCall) fillRepeats(ctx context.Context) error {
	c := b.c
	if len(b.distinct) == len(b.keys) {
		return nil // no key repeats
	}
	for i, j := range b.first {
		if i == j {
			continue
		}
		dst := b.e.sink(i)
		if (b.hit[j] || b.committed) && c.LookupCached(ctx, &b.keys[i], dst).Hit {
			continue
		}
		if b.data[j] == nil { // a hit whose entry vanished meanwhile: copy the first element's value
			enc, err := c.Codec().Marshal(b.e.value(j))
			if err != nil {
				return errorf("%s: element %d: encode result: %w", c.Name(), i, err)
			}
			b.data[j] = enc
		}
		if err := dst.Decode(b.data[j]); err != nil {
			return errorf("%s: element %d: %w", c.Name(), i, err)
		}
		if err := engine.CopyOuts(&b.keys[j], &b.keys[i]); err != nil {
			return errorf("%s: element %d: %w", c.Name(), i, err)
		}
	}
	return nil
}

// compute calls fn on the missing elements, stores their results with one
// commit and decodes the stored copies into their elements. It reports
// whether the commit succeeded; a failure to store is not an error (see
// storeFailed).
func (b *batchCall) compute(ctx context.Context) (bool, error) {
	c, missing, keys := b.c, b.missing, b.keys
	// Every missing element's outcome, once: stored or not, or the
	// function's error (a panic, which goes on to the caller, included).
	info := make([]CallInfo, len(missing))
	for j, i := range missing {
		info[j] = CallInfo{Key: keys[i].Hash, Source: SourceComputed}
	}
	returned := false
	defer func() {
		for j := range info {
			if !returned {
				info[j].Err = errPanicked
			}
			finish(ctx, c, SourceComputed, info[j])
		}
	}()
	c.Count(engine.StatComputes)
	start := time.Now()
	err := runChecked(ctx, c, b.e, missing) // a panic goes on to the caller: no lock is held, nothing cached
	returned = true
	took := time.Since(start)
	for j := range info {
		info[j].ComputeTime, info[j].Err = took, err
	}
	if err != nil {
		c.Count(engine.StatErrors)
		return false, err
	}
	ps := make([]engine.Pending, 0, len(missing))
	psAt := make([]int, 0, len(missing)) // the index in missing (and info) of each of ps
	var unstorable error
	for j, i := range missing {
		out := b.e.output(j)
		enc, err := c.Codec().Marshal(out)
		if err == nil {
			if err = b.e.sink(i).Decode(enc); err == nil {
				b.data[i] = enc
				ps = append(ps, engine.Pending{Key: &keys[i], Data: enc, Prev: b.prev[i]})
				psAt = append(psAt, j)
				continue
			}
		}
		b.e.useOutput(i, j) // returned as computed, not stored
		unstorable = errors.Join(unstorable, fmt.Errorf("element %d (%T): %w", i, out, err))
	}
	if unstorable != nil {
		if err := c.StoreFailed(nil, unstorable); err != nil {
			return false, err
		}
	}
	report := func(stored bool) {
		for k, j := range psAt {
			info[j].Bytes, info[j].Stored = int64(len(ps[k].Data)), stored
		}
	}
	if len(ps) == 0 || keys[missing[0]].NoWrite {
		report(false)
		return false, nil
	}
	if err := c.Commit(ctx, ps); err != nil {
		if engine.MissingOut(err) {
			c.Count(engine.StatErrors)
			return false, errorf("%s: %w (nothing was cached)", c.Name(), err)
		}
		report(false)
		return false, c.StoreFailed(nil, err)
	}
	report(true)
	return unstorable == nil, nil
}

// verify recomputes a batch's hits (ModeVerify) in one call of the function
// and compares each result's encoding with the stored bytes, finishing each
// hit as verified. (Out files of batch elements are compared by Func's
// verify only.)
func (b *batchCall) verify(ctx context.Context) (err error) {
	c := b.c
	var at []int
	for _, i := range b.distinct {
		if b.from[i] != "" {
			at = append(at, i)
		}
	}
	info := make([]CallInfo, len(at))
	for j, i := range at {
		info[j] = CallInfo{Hit: true, Source: SourceVerified, Key: b.keys[i].Hash}
	}
	defer func() {
		for j, i := range at {
			if info[j].Err == nil {
				info[j].Err = err
			}
			finish(ctx, c, b.from[i], info[j])
		}
	}()
	c.Count(engine.StatComputes)
	start := time.Now()
	err = runChecked(ctx, c, b.e, at)
	took := time.Since(start)
	if err != nil {
		c.Count(engine.StatErrors)
		return err
	}
	for j, i := range at {
		enc, err := c.Codec().Marshal(b.e.output(j))
		if err != nil {
			return errorf("%s: verify element %d: encode result: %w", c.Name(), i, err)
		}
		info[j].ComputeTime, info[j].Bytes = took, int64(len(enc))
		if !c.SameResult(enc, b.stored[i]) {
			c.Count(engine.StatMismatches)
			return errorf("%s: element %d (key %x): the result (stored: %d bytes, recomputed: %d bytes) differs: %w",
				c.Name(), i, b.keys[i].Hash[:6], len(b.stored[i]), len(enc), ErrVerifyMismatch)
		}
	}
	return nil
}

// containsBatch is BatchFunc.Contains of function c on the elements of e.
func containsBatch(ctx context.Context, c *engine.Fn, e elems) ([]bool, error) {
	if c.Closed() {
		return nil, ErrClosed
	}
	if err := c.RefreshView(); err != nil {
		return nil, errorf("%s: contains: %w", c.Name(), err)
	}
	out := make([]bool, e.len())
	e.makeSinks()
	for i := range out {
		if err := ctx.Err(); err != nil {
			return nil, errorf("%s: contains: %w", c.Name(), err)
		}
		k, err := c.KeyValue(e.arg(i), false)
		if err != nil {
			return nil, fmt.Errorf("%w (element %d)", err, i)
		}
		if out[i], err = c.Contains(&k, e.sink(i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
