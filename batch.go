package pcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/pcache/pcache/internal/fsutil"
)

// BatchFunc is a cached batch function made by WrapBatch. It is safe for
// concurrent use.
type BatchFunc[A, R any] struct {
	c  *core
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
	c, err := newCore(s, name, reflect.TypeFor[A](), reflect.TypeFor[R](), defaultCodec[R](), opts)
	if err != nil {
		return nil, err
	}
	return &BatchFunc[A, R]{c: c, fn: fn}, nil
}

// MustWrapBatch is like WrapBatch but panics on error.
func MustWrapBatch[A, R any](s *Store, name string, fn func(context.Context, []A) ([]R, error), opts ...Option) *BatchFunc[A, R] {
	f, err := WrapBatch(s, name, fn, opts...)
	if err != nil {
		panic(err)
	}
	return f
}

// Name returns the name the function is stored under.
func (f *BatchFunc[A, R]) Name() string { return f.c.name }

// Stats returns the counters of this BatchFunc's calls (per distinct
// element, except Computes, which counts calls of fn).
func (f *BatchFunc[A, R]) Stats() Stats { return f.c.stats.snapshot() }

// Call returns one result per element of args, in order. Only elements
// without a usable entry are passed to fn, in one call, each distinct key
// once. If fn fails, panics or returns a slice of the wrong length, nothing
// from that call is cached. Results that cannot be stored are returned all
// the same (see ReturnStoreErrors). Under ErrorOnMiss any miss fails the
// whole call with ErrCacheMiss; under NoCache fn gets every element and
// nothing is stored.
func (f *BatchFunc[A, R]) Call(ctx context.Context, args []A) ([]R, error) {
	c := f.c
	if c.s.closed.Load() && c.s.opts.strictStore {
		return nil, errorf("%s: %w", c.name, ErrClosed)
	}
	pol := c.s.policyOf(ctx)
	if c.s.closed.Load() || pol.off {
		c.count(statComputes)
		if pol.off {
			for range args {
				c.finish(ctx, SourceOff, CallInfo{Source: SourceOff})
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
	if len(b.missing) > 0 && c.s.remote != nil && !pol.replace {
		b.lookupRemote(ctx)
	}
	if len(b.missing) > 0 && pol.failMiss {
		for _, i := range b.missing {
			c.finish(ctx, SourceMiss, CallInfo{Key: b.keys[i].hash, Source: SourceMiss})
		}
		return nil, errorf("%s: %d of %d distinct elements missing: %w", c.name, len(b.missing), len(b.distinct), ErrCacheMiss)
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
	keys      []callKey
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

// keyAll keys every element and notes the first element of each key.
func (b *batchCall[A, R]) keyAll() error {
	c, n := b.f.c, len(b.args)
	b.keys, b.first = make([]callKey, n), make(map[[32]byte]int, n)
	for i, a := range b.args {
		k, err := c.key(a, true)
		if err != nil {
			return fmt.Errorf("%w (element %d)", err, i)
		}
		k.noWrite = !b.pol.write
		b.keys[i] = k
		if _, ok := b.first[k.hash]; !ok {
			b.first[k.hash] = i
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
	if err := c.m.Refresh(); err != nil {
		c.warn("batch: manifest refresh failed; computing what is not found", nil, err)
	}
	forEach(len(b.distinct), func(j int) error {
		i := b.distinct[j]
		if b.pol.replace {
			if e, ok, _ := c.m.Peek(b.keys[i].hash); ok {
				b.prev[i] = e.Time // the new result must win over it
			}
			return nil
		}
		dst := &value[R]{codec: c.codec}
		fd := c.lookupIn(ctx, &b.keys[i], dst, c.m.Peek)
		b.res[i], b.hit[i], b.prev[i], b.stored[i] = dst.v, fd.hit, fd.prev, dst.stored()
		if fd.bad {
			c.count(statCorrupt)
		}
		if fd.hit {
			b.from[i] = SourceLocal
			if !b.pol.verify {
				c.finish(ctx, SourceLocal, CallInfo{Hit: true, Source: SourceLocal, Key: b.keys[i].hash, Bytes: dst.size})
			}
		}
		return nil
	})
	for _, i := range b.distinct {
		if !b.hit[i] {
			b.missing = append(b.missing, i)
		}
	}
}

// lookupRemote asks the remote for what the local cache lacks (its
// requests overlap), after one fresh read of the index for the whole batch.
func (b *batchCall[A, R]) lookupRemote(ctx context.Context) {
	c := b.f.c
	c.s.remote.Refresh(ctx, c.name)
	forEach(len(b.missing), func(j int) error {
		i := b.missing[j]
		dst := &value[R]{codec: c.codec}
		if b.prev[i] == 0 && c.fromRemote(ctx, &b.keys[i], dst, false) {
			b.res[i], b.hit[i], b.stored[i], b.from[i] = dst.v, true, dst.stored(), SourceRemote
			if !b.pol.verify {
				c.finish(ctx, SourceRemote, CallInfo{Hit: true, Source: SourceRemote, Key: b.keys[i].hash, Bytes: dst.size})
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
		j := b.first[b.keys[i].hash]
		if i == j {
			continue
		}
		dst := &value[R]{codec: c.codec}
		if (b.hit[j] || b.committed) && c.lookupIn(ctx, &b.keys[i], dst, c.m.Peek).hit {
			b.res[i] = dst.v
			continue
		}
		if b.data[j] == nil { // a hit whose entry vanished meanwhile: copy the first element's value
			enc, err := c.codec.Marshal(b.res[j])
			if err != nil {
				return errorf("%s: element %d: encode result: %w", c.name, i, err)
			}
			b.data[j] = enc
		}
		if err := dst.decode(b.data[j]); err != nil {
			return errorf("%s: element %d: %w", c.name, i, err)
		}
		if err := copyOuts(b.keys[j], b.keys[i]); err != nil {
			return errorf("%s: element %d: %w", c.name, i, err)
		}
		b.res[i] = dst.v
	}
	return nil
}

// compute calls fn on the missing elements, stores their results with one
// commit and puts the decoded copies in res. It reports whether the commit
// succeeded; a failure to store is not an error (see storeFailed).
func (f *BatchFunc[A, R]) compute(ctx context.Context, args []A, keys []callKey, missing []int, prev []int64, res []R, data [][]byte) (bool, error) {
	c := f.c
	in := make([]A, len(missing))
	for j, i := range missing {
		in[j] = args[i]
	}
	// Every missing element's outcome, once: stored or not, or the
	// function's error (a panic, which goes on to the caller, included).
	info := make([]CallInfo, len(missing))
	for j, i := range missing {
		info[j] = CallInfo{Key: keys[i].hash, Source: SourceComputed}
	}
	returned := false
	defer func() {
		for j := range info {
			if !returned {
				info[j].Err = errPanicked
			}
			c.finish(ctx, SourceComputed, info[j])
		}
	}()
	c.count(statComputes)
	start := time.Now()
	out, err := f.checkedCall(ctx, in) // a panic goes on to the caller: no lock is held, nothing cached
	returned = true
	took := time.Since(start)
	for j := range info {
		info[j].ComputeTime, info[j].Err = took, err
	}
	if err != nil {
		c.count(statErrors)
		return false, err
	}
	ps := make([]pending, 0, len(missing))
	psAt := make([]int, 0, len(missing)) // the index in missing (and info) of each of ps
	var unstorable error
	for j, i := range missing {
		b, err := c.codec.Marshal(out[j])
		if err == nil {
			dst := &value[R]{codec: c.codec}
			if err = dst.decode(b); err == nil {
				res[i], data[i] = dst.v, b
				ps = append(ps, pending{key: &keys[i], data: b, prev: prev[i]})
				psAt = append(psAt, j)
				continue
			}
		}
		res[i] = out[j] // returned as computed, not stored
		unstorable = errors.Join(unstorable, fmt.Errorf("element %d (%T): %w", i, out[j], err))
	}
	if unstorable != nil {
		if err := c.storeFailed(nil, unstorable); err != nil {
			return false, err
		}
	}
	report := func(stored bool) {
		for k, j := range psAt {
			info[j].Bytes, info[j].Stored = int64(len(ps[k].data)), stored
		}
	}
	if len(ps) == 0 || keys[missing[0]].noWrite {
		report(false)
		return false, nil
	}
	if err := c.commit(ctx, ps); err != nil {
		if errMissing(err) {
			c.count(statErrors)
			return false, errorf("%s: %w (nothing was cached)", c.name, err)
		}
		report(false)
		return false, c.storeFailed(nil, err)
	}
	report(true)
	return unstorable == nil, nil
}

// verify recomputes a batch's hits (ModeVerify) in one call of the function
// and compares each result's encoding with the stored bytes, finishing each
// hit as verified. (Out files of batch elements are compared by Func's
// verify only.)
func (f *BatchFunc[A, R]) verify(ctx context.Context, args []A, keys []callKey, distinct []int, from []Source, stored [][]byte) (err error) {
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
		info[j] = CallInfo{Hit: true, Source: SourceVerified, Key: keys[i].hash}
	}
	defer func() {
		for j, i := range at {
			if info[j].Err == nil {
				info[j].Err = err
			}
			c.finish(ctx, from[i], info[j])
		}
	}()
	c.count(statComputes)
	start := time.Now()
	out, err := f.checkedCall(ctx, in)
	took := time.Since(start)
	if err != nil {
		c.count(statErrors)
		return err
	}
	for j, i := range at {
		b, err := c.codec.Marshal(out[j])
		if err != nil {
			return errorf("%s: verify element %d: encode result: %w", c.name, i, err)
		}
		info[j].ComputeTime, info[j].Bytes = took, int64(len(b))
		if !c.sameResult(b, stored[i]) {
			c.count(statMismatches)
			return errorf("%s: element %d (key %x): the result (stored: %d bytes, recomputed: %d bytes) differs: %w",
				c.name, i, keys[i].hash[:6], len(stored[i]), len(b), ErrVerifyMismatch)
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
		return nil, errorf("%s: batch function returned %d results for %d inputs (nothing was cached)", f.c.name, len(out), len(in))
	}
	return out, nil
}

// copyOuts makes the out paths of dst hold what the function wrote to
// those of src (the same key's first element), for a result that could not
// be served from the cache.
func copyOuts(src, dst callKey) error {
	for i, o := range dst.outs {
		from := src.outs[i].Path
		if from == o.Path {
			continue
		}
		if err := copyFile(from, o.Path); err != nil {
			return fmt.Errorf("out file %q: %w", o.Arg, err)
		}
	}
	return nil
}

// copyFile copies from to to atomically (temp file beside to, then rename).
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o777); err != nil {
		return err
	}
	tmp, err := fsutil.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".", fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	return fsutil.Commit(tmp, to, false)
}

// Contains reports, for each element of args, whether it has an entry whose
// result is present, without computing anything (out-file arguments are
// ignored).
func (f *BatchFunc[A, R]) Contains(ctx context.Context, args []A) ([]bool, error) {
	c := f.c
	if c.s.closed.Load() {
		return nil, ErrClosed
	}
	if err := c.m.Refresh(); err != nil {
		return nil, errorf("%s: contains: %w", c.name, err)
	}
	out := make([]bool, len(args))
	for i, a := range args {
		if err := ctx.Err(); err != nil {
			return nil, errorf("%s: contains: %w", c.name, err)
		}
		k, err := c.key(a, false)
		if err != nil {
			return nil, fmt.Errorf("%w (element %d)", err, i)
		}
		if out[i], err = c.contains(&k, &value[R]{codec: c.codec}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
