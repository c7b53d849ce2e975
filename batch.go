package pcache

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/pcache/pcache/internal/engine"
)

// BatchFunc is a cached batch function made by WrapBatch. It is safe for
// concurrent use.
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
	c := f.c
	if c.Closed() && f.c.StrictStore() {
		return nil, errorf("%s: %w", c.Name(), ErrClosed)
	}
	pol := f.s.policyOf(ctx)
	if c.Closed() || pol.off {
		c.Count(engine.StatComputes)
		if pol.off {
			for range args {
				finish(ctx, c, SourceOff, CallInfo{Source: SourceOff})
			}
		}
		return f.checkedCall(ctx, args)
	}
	if len(args) == 0 {
		return []R{}, nil
	}
	b := &batchCall[A, R]{f: f, pol: pol, args: args}
	if err := b.keyAll(); err != nil {
		return nil, err
	}
	b.lookupLocal(ctx)
	if len(b.missing) > 0 && c.HasRemote() && !pol.replace {
		b.lookupRemote(ctx)
	}
	if len(b.missing) > 0 && pol.failMiss {
		for _, i := range b.missing {
			finish(ctx, c, SourceMiss, CallInfo{Key: b.keys[i].Hash, Source: SourceMiss})
		}
		return nil, errorf("%s: %d of %d distinct elements missing: %w", c.Name(), len(b.missing), len(b.distinct), ErrCacheMiss)
	}
	if pol.verify && len(b.missing) < len(b.distinct) {
		if err := f.verify(ctx, args, b.keys, b.distinct, b.from, b.stored); err != nil {
			return nil, err
		}
	}
	b.data = make([][]byte, len(args))
	if len(b.missing) > 0 {
		var err error
		b.committed, err = f.compute(ctx, args, b.keys, b.missing, b.prev, b.res, b.data)
		if err != nil {
			return nil, err
		}
	}
	if err := b.fillRepeats(ctx); err != nil {
		return nil, err
	}
	return b.res, nil
}

// batchCall is one call of a BatchFunc, element by element: what each
// distinct key found, and what is left to compute.
type batchCall[A, R any] struct {
	f         *BatchFunc[A, R]
	pol       policy
	args      []A
	keys      []engine.CallKey
	first     map[[32]byte]int // key → index of its first element
	distinct  []int            // the first element of each key
	res       []R
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
func (b *batchCall[A, R]) keyAll() error {
	c, n := b.f.c, len(b.args)
	b.keys, b.first = make([]engine.CallKey, n), make(map[[32]byte]int, n)
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
			k, err := c.KeyValue(reflect.ValueOf(&b.args[i]).Elem(), true)
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
	for i := range b.keys {
		if _, ok := b.first[b.keys[i].Hash]; !ok {
			b.first[b.keys[i].Hash] = i
			b.distinct = append(b.distinct, i)
		}
	}
	b.res, b.hit, b.prev = make([]R, n), make([]bool, n), make([]int64, n)
	b.stored, b.from = make([][]byte, n), make([]Source, n)
	return nil
}

// lookupLocal looks every distinct key up in the local cache (one refresh
// of the manifest view, then each key from memory, in parallel) and notes
// the keys it misses.
func (b *batchCall[A, R]) lookupLocal(ctx context.Context) {
	c := b.f.c
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
func (b *batchCall[A, R]) lookupChunk(ctx context.Context, indices []int, observing bool) {
	c := b.f.c
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
	var hits int64                                // counted once per chunk: the counters are shared by every core
	var uses engine.Uses                          // the chunk's hits' uses: one write for them all
	dsts := make([]engine.Value[R], len(indices)) // one allocation for the chunk's results
	for j, i := range indices {
		dst := &dsts[j]
		dst.Codec = c.Codec()
		fd := c.LookupPeeked(ctx, &b.keys[i], &peeked[j], dst, &uses)
		b.res[i], b.hit[i], b.prev[i], b.stored[i] = dst.V, fd.Hit, fd.Prev, dst.Stored()
		if fd.Bad {
			c.Count(engine.StatCorrupt)
		}
		if fd.Hit {
			b.from[i] = SourceLocal
			if !b.pol.verify {
				hits++
				if observing {
					observe(ctx, c, CallInfo{Hit: true, Source: SourceLocal, Key: b.keys[i].Hash, Bytes: dst.Size})
				}
			}
		}
	}
	c.RecordUses(uses)
	c.CountN(engine.StatHits, hits) // as finish(…, SourceLocal, …) counts each
}

// lookupRemote asks the remote for what the local cache lacks (its
// requests overlap), after one fresh read of the index for the whole batch.
func (b *batchCall[A, R]) lookupRemote(ctx context.Context) {
	c := b.f.c
	c.RefreshRemote(ctx)
	forEach(len(b.missing), func(j int) error {
		i := b.missing[j]
		dst := &engine.Value[R]{Codec: c.Codec()}
		if b.prev[i] == 0 && c.FromRemote(ctx, &b.keys[i], dst, false) {
			b.res[i], b.hit[i], b.stored[i], b.from[i] = dst.V, true, dst.Stored(), SourceRemote
			if !b.pol.verify {
				finish(ctx, c, SourceRemote, CallInfo{Hit: true, Source: SourceRemote, Key: b.keys[i].Hash, Bytes: dst.Size})
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
func (b *batchCall[A, R]) fillRepeats(ctx context.Context) error {
	c := b.f.c
	for i := range b.args {
		j := b.first[b.keys[i].Hash]
		if i == j {
			continue
		}
		dst := &engine.Value[R]{Codec: c.Codec()}
		if (b.hit[j] || b.committed) && c.LookupCached(ctx, &b.keys[i], dst).Hit {
			b.res[i] = dst.V
			continue
		}
		if b.data[j] == nil { // a hit whose entry vanished meanwhile: copy the first element's value
			enc, err := c.Codec().Marshal(b.res[j])
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
		b.res[i] = dst.V
	}
	return nil
}

// compute calls fn on the missing elements, stores their results with one
// commit and puts the decoded copies in res. It reports whether the commit
// succeeded; a failure to store is not an error (see storeFailed).
func (f *BatchFunc[A, R]) compute(ctx context.Context, args []A, keys []engine.CallKey, missing []int, prev []int64, res []R, data [][]byte) (bool, error) {
	c := f.c
	in := make([]A, len(missing))
	for j, i := range missing {
		in[j] = args[i]
	}
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
	out, err := f.checkedCall(ctx, in) // a panic goes on to the caller: no lock is held, nothing cached
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
		b, err := c.Codec().Marshal(out[j])
		if err == nil {
			dst := &engine.Value[R]{Codec: c.Codec()}
			if err = dst.Decode(b); err == nil {
				res[i], data[i] = dst.V, b
				ps = append(ps, engine.Pending{Key: &keys[i], Data: b, Prev: prev[i]})
				psAt = append(psAt, j)
				continue
			}
		}
		res[i] = out[j] // returned as computed, not stored
		unstorable = errors.Join(unstorable, fmt.Errorf("element %d (%T): %w", i, out[j], err))
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
func (f *BatchFunc[A, R]) verify(ctx context.Context, args []A, keys []engine.CallKey, distinct []int, from []Source, stored [][]byte) (err error) {
	c := f.c
	var in []A
	var at []int
	for _, i := range distinct {
		if from[i] != "" {
			in, at = append(in, args[i]), append(at, i)
		}
	}
	info := make([]CallInfo, len(at))
	for j, i := range at {
		info[j] = CallInfo{Hit: true, Source: SourceVerified, Key: keys[i].Hash}
	}
	defer func() {
		for j, i := range at {
			if info[j].Err == nil {
				info[j].Err = err
			}
			finish(ctx, c, from[i], info[j])
		}
	}()
	c.Count(engine.StatComputes)
	start := time.Now()
	out, err := f.checkedCall(ctx, in)
	took := time.Since(start)
	if err != nil {
		c.Count(engine.StatErrors)
		return err
	}
	for j, i := range at {
		b, err := c.Codec().Marshal(out[j])
		if err != nil {
			return errorf("%s: verify element %d: encode result: %w", c.Name(), i, err)
		}
		info[j].ComputeTime, info[j].Bytes = took, int64(len(b))
		if !c.SameResult(b, stored[i]) {
			c.Count(engine.StatMismatches)
			return errorf("%s: element %d (key %x): the result (stored: %d bytes, recomputed: %d bytes) differs: %w",
				c.Name(), i, keys[i].Hash[:6], len(stored[i]), len(b), ErrVerifyMismatch)
		}
	}
	return nil
}

// checkedCall calls fn and checks the length of what it returns.
func (f *BatchFunc[A, R]) checkedCall(ctx context.Context, in []A) ([]R, error) {
	out, err := f.fn(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(out) != len(in) {
		return nil, errorf("%s: batch function returned %d results for %d inputs (nothing was cached)", f.c.Name(), len(out), len(in))
	}
	return out, nil
}

// Contains reports, for each element of args, whether it has an entry whose
// result is present, without computing anything (out-file arguments are
// ignored).
func (f *BatchFunc[A, R]) Contains(ctx context.Context, args []A) ([]bool, error) {
	c := f.c
	if c.Closed() {
		return nil, ErrClosed
	}
	if err := c.RefreshView(); err != nil {
		return nil, errorf("%s: contains: %w", c.Name(), err)
	}
	out := make([]bool, len(args))
	for i, a := range args {
		if err := ctx.Err(); err != nil {
			return nil, errorf("%s: contains: %w", c.Name(), err)
		}
		k, err := c.Key(a, false)
		if err != nil {
			return nil, fmt.Errorf("%w (element %d)", err, i)
		}
		if out[i], err = c.Contains(&k, &engine.Value[R]{Codec: c.Codec()}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
