package pcache

import (
	"context"
	"fmt"
	"reflect"

	"github.com/pcache/pcache/keying"
)

// Func is a cached function made by Wrap. It is safe for concurrent use.
type Func[A, R any] struct {
	c  *core
	fn func(context.Context, A) (R, error)
}

// Wrap returns a cached version of fn stored under name, a slash-separated
// relative path such as "unique/path/for/this/function" that must stay the
// same across runs and machines.
//
// When A is a struct, each exported field is one named argument (named by the
// field, or by a `pcache:"name"` tag) and the options and tags choose how
// each is keyed; otherwise the key is the canonical encoding of the value. A
// key rule naming an argument that does not exist, two rules on one argument,
// or an argument type that can never be keyed is an error naming it.
//
// Wrapping the same name more than once — in one process, in several, or
// after the argument struct gained a field — is allowed: all of them read and
// write the same entries.
func Wrap[A, R any](s *Store, name string, fn func(context.Context, A) (R, error), opts ...Option) (*Func[A, R], error) {
	if fn == nil {
		return nil, fmt.Errorf("pcache: wrap %q: nil function", name)
	}
	c, err := newCore(s, name, reflect.TypeFor[A](), defaultCodec[R](), opts)
	if err != nil {
		return nil, err
	}
	return &Func[A, R]{c: c, fn: fn}, nil
}

// MustWrap is like Wrap but panics on error. Use it for package-level
// variables whose arguments are fixed at compile time.
func MustWrap[A, R any](s *Store, name string, fn func(context.Context, A) (R, error), opts ...Option) *Func[A, R] {
	f, err := Wrap(s, name, fn, opts...)
	if err != nil {
		panic(err)
	}
	return f
}

// Name returns the name the function is stored under.
func (f *Func[A, R]) Name() string { return f.c.name }

// Stats returns the counters of this Func's calls.
func (f *Func[A, R]) Stats() Stats { return f.c.stats.snapshot() }

// Call returns the cached result of fn(ctx, args), computing and storing it on
// a miss. Errors returned by fn are returned and not cached. Every hit decodes
// a fresh value, so mutating a result never changes what later calls get.
//
// Out files: on a miss, each out-file argument must name a file fn wrote; its
// contents are stored with the result. On a hit, each requested out path is
// made to hold the recorded contents (left untouched when it already does)
// without calling fn.
//
// Under ErrorOnMiss(ctx) a miss returns ErrCacheMiss; under NoCache(ctx) fn
// is always called and nothing is stored.
func (f *Func[A, R]) Call(ctx context.Context, args A) (R, error) {
	var zero R
	if f.c.s.isClosed() {
		return zero, ErrClosed
	}
	if modeOf(ctx) == modeNoCache {
		f.c.count(statComputes)
		return f.fn(ctx, args)
	}
	cl, err := f.c.newCall(args, true)
	if err != nil {
		return zero, err
	}
	var fresh *R // the computed value, returned as is to the computing caller
	compute := func(ctx context.Context) ([]byte, error) {
		r, err := f.fn(ctx, args)
		if err != nil {
			return nil, err
		}
		b, err := f.c.codec.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("pcache: %s: encode result %T: %w", f.c.name, r, err)
		}
		fresh = &r
		return b, nil
	}
	data, err := f.c.resolve(ctx, cl, compute)
	if err != nil {
		return zero, err
	}
	if fresh != nil {
		return *fresh, nil
	}
	r, err := decode[R](f.c, data)
	if err == nil {
		return r, nil
	}
	// The stored bytes no longer decode as R (the result type changed): a
	// miss, recomputed and replaced, never a crash or a half-filled value.
	f.c.count(statCorrupt)
	if modeOf(ctx) == modeErrorOnMiss {
		return zero, fmt.Errorf("%w (%w)", err, ErrCacheMiss)
	}
	if _, err := f.c.lead(ctx, cl, compute, true); err != nil {
		return zero, err
	}
	return *fresh, nil
}

func decode[R any](c *core, data []byte) (R, error) {
	var r R
	if err := c.codec.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("pcache: %s: decode cached result as %T: %w", c.name, r, err)
	}
	return r, nil
}

// Contains reports whether args have an entry whose result is present,
// without computing anything. Out-file arguments are ignored.
func (f *Func[A, R]) Contains(ctx context.Context, args A) (bool, error) {
	if f.c.s.isClosed() {
		return false, ErrClosed
	}
	cl, err := f.c.newCall(args, false)
	if err != nil {
		return false, err
	}
	return f.c.contains(cl)
}

// StableHash returns the lowercase hex BLAKE3-256 of the canonical encoding
// of v: the same on every OS, architecture and pcache version.
func StableHash(v any) (string, error) { return keying.StableHash(v) }

// KeyHasher is implemented by types that say how they are keyed: the key of
// such a value is the canonical encoding of what CacheKey returns.
type KeyHasher = keying.KeyHasher
