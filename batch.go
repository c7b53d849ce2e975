package pcache

import (
	"context"
	"fmt"
	"reflect"

	"github.com/pcache/pcache/keying"
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
// Concurrent batch calls deduplicate within each call, not across calls:
// two processes that miss the same elements at the same moment may both
// compute them (the results are stored once either way).
func WrapBatch[A, R any](s *Store, name string, fn func(context.Context, []A) ([]R, error), opts ...Option) (*BatchFunc[A, R], error) {
	if fn == nil {
		return nil, fmt.Errorf("pcache: wrap batch %q: nil function", name)
	}
	c, err := newCore(s, name, reflect.TypeFor[A](), defaultCodec[R](), opts)
	if err != nil {
		return nil, err
	}
	return &BatchFunc[A, R]{c: c, fn: fn}, nil
}

// Name returns the name the function is stored under.
func (f *BatchFunc[A, R]) Name() string { return f.c.name }

// Stats returns the counters of this BatchFunc's calls (per element, except
// Computes, which counts calls of fn).
func (f *BatchFunc[A, R]) Stats() Stats { return f.c.stats.snapshot() }

// Call returns one result per element of args, in order. Only elements
// without a usable entry are passed to fn, in one call, each distinct key
// once. If fn fails or returns a slice of the wrong length, nothing from that
// call is cached. Under ErrorOnMiss any miss fails the whole call with
// ErrCacheMiss; under NoCache fn gets every element and nothing is stored.
func (f *BatchFunc[A, R]) Call(ctx context.Context, args []A) ([]R, error) {
	c := f.c
	if c.s.isClosed() {
		return nil, ErrClosed
	}
	if modeOf(ctx) == modeNoCache {
		c.count(statComputes)
		return f.checkedCall(ctx, args)
	}
	if len(args) == 0 {
		return []R{}, nil
	}
	calls := make([]keying.Key, len(args))
	first := make(map[[32]byte]int, len(args)) // key → index of its first element
	var distinct []int
	for i, a := range args {
		cl, err := c.newCall(a, true)
		if err != nil {
			return nil, fmt.Errorf("%w (element %d)", err, i)
		}
		calls[i] = cl
		if _, ok := first[cl.Hash]; !ok {
			first[cl.Hash] = i
			distinct = append(distinct, i)
		}
	}
	found, err := c.getMany(ctx, calls, distinct)
	if err != nil {
		return nil, err
	}
	var missing []int // indexes (first occurrences) of keys to compute
	for _, i := range distinct {
		if found[i] == nil {
			missing = append(missing, i)
		}
	}
	c.add(statHits, int64(len(distinct)-len(missing)))
	c.add(statMisses, int64(len(missing)))
	computed := map[int]R{}
	if len(missing) > 0 {
		if modeOf(ctx) == modeErrorOnMiss {
			return nil, fmt.Errorf("pcache: %s: %d of %d distinct elements missing: %w", c.name, len(missing), len(distinct), ErrCacheMiss)
		}
		in := make([]A, len(missing))
		for j, i := range missing {
			in[j] = args[i]
		}
		c.count(statComputes)
		out, err := f.checkedCall(ctx, in)
		if err != nil {
			c.count(statErrors)
			return nil, err
		}
		ps := make([]pending, len(missing))
		for j, i := range missing {
			b, err := c.codec.Marshal(out[j])
			if err != nil {
				return nil, fmt.Errorf("pcache: %s: encode result %d (%T): %w (nothing was cached)", c.name, i, out[j], err)
			}
			ps[j] = pending{key: calls[i], data: b}
			computed[i] = out[j]
		}
		if err := c.commit(ctx, ps); err != nil {
			c.count(statErrors)
			return nil, err
		}
	}
	res := make([]R, len(args))
	for i, cl := range calls {
		j := first[cl.Hash]
		if r, ok := computed[j]; ok && i == j {
			res[i] = r
			continue
		}
		var data []byte
		if found[j] != nil {
			data = found[j]
		} else if data, err = c.codec.Marshal(computed[j]); err != nil { // a duplicate of a computed element: decode its own copy
			return nil, fmt.Errorf("pcache: %s: encode result %d: %w", c.name, i, err)
		}
		r, err := decode[R](c, data)
		if err != nil {
			return nil, fmt.Errorf("%w (element %d)", err, i)
		}
		res[i] = r
	}
	return res, nil
}

// checkedCall calls fn and checks the length of what it returns.
func (f *BatchFunc[A, R]) checkedCall(ctx context.Context, in []A) ([]R, error) {
	out, err := f.fn(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(out) != len(in) {
		return nil, fmt.Errorf("pcache: %s: batch function returned %d results for %d inputs (nothing was cached)", f.c.name, len(out), len(in))
	}
	return out, nil
}

// getMany looks up the elements at idx concurrently and returns their result
// bytes by element index (nil for a miss).
func (c *core) getMany(ctx context.Context, calls []keying.Key, idx []int) ([][]byte, error) {
	found := make([][]byte, len(calls))
	if err := c.m.Refresh(); err != nil {
		return nil, fmt.Errorf("pcache: %s: %w", c.name, err)
	}
	err := forEach(len(idx), func(j int) error {
		data, ok, err := c.getWith(ctx, calls[idx[j]], true, c.m.Peek)
		if ok {
			found[idx[j]] = data
		}
		return err
	})
	return found, err
}

// MustWrapBatch is like WrapBatch but panics on error.
func MustWrapBatch[A, R any](s *Store, name string, fn func(context.Context, []A) ([]R, error), opts ...Option) *BatchFunc[A, R] {
	f, err := WrapBatch(s, name, fn, opts...)
	if err != nil {
		panic(err)
	}
	return f
}
