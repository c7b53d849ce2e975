package pcache

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	"github.com/pcache/pcache/internal/engine"
	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/remote"
)

// Func is a cached function made by Wrap. It is safe for concurrent use.
type Func[A, R any] struct {
	s    *Store
	c    *engine.Fn
	fn   func(context.Context, A) (R, error)
	blob bool // R is Blob: results are objects of their own
}

// Wrap returns a cached version of fn stored under name, a slash-separated
// relative path such as "unique/path/for/this/function" that must stay the
// same across runs and machines. Name segments are ASCII letters, digits
// and . _ - + = @ , (not "." or "..", not a Windows device name such as
// "con"); a name that differs from another of the same cache only in
// letter case is refused, so a cache copied to macOS or Windows stays
// correct.
//
// When A is a struct, or a pointer to one, each exported field is one named
// argument (named by the field, or by a `pcache:"name"` tag) and the options
// and tags choose how each is keyed; otherwise the key is the canonical
// encoding of the value. A key rule naming an argument that does not exist,
// two rules of one kind on one argument, an argument type that can never be
// keyed, or a result type the codec cannot store and decode back (a chan,
// func, complex or unsafe pointer inside it, an unexported field without a
// marshaler) is an error naming it.
//
// Wrapping the same name more than once — in one process, in several, or
// after the argument struct gained a field — is allowed: all of them read and
// write the same entries, as long as the result type is the same (entries
// of another result type are kept apart and never served).
func Wrap[A, R any](s *Store, name string, fn func(context.Context, A) (R, error), opts ...Option) (*Func[A, R], error) {
	if fn == nil {
		return nil, errorf("wrap %q: nil function", name)
	}
	c, err := bind(s, name, reflect.TypeFor[A](), reflect.TypeFor[R](), defaultCodec[R](), opts)
	if err != nil {
		return nil, err
	}
	return &Func[A, R]{s: s, c: c, fn: fn, blob: isBlob[R]()}, nil
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
func (f *Func[A, R]) Name() string { return f.c.Name() }

// Stats returns the counters of this Func's calls.
func (f *Func[A, R]) Stats() Stats { return statsOf(f.c.Counts(), remote.Stats{}) }

// Call returns the cached result of fn(ctx, args), computing and storing it
// on a miss. Errors returned by fn are returned and not cached; a panic in
// fn reaches the caller unchanged and caches nothing. A miss returns the
// decoded copy of what it stored, and every hit decodes a fresh value, so
// mutating a result never changes what later calls get, and a miss and a
// hit return equal values.
//
// Out files: on a miss, each out-file argument must name a file fn wrote; its
// contents are stored with the result. On a hit, each requested out path is
// made to hold the recorded contents (left untouched when it already does)
// without calling fn.
//
// A result that cannot be stored is returned all the same (see
// ReturnStoreErrors). The call's Mode (see WithMode and PCACHE_MODE) can turn
// off the cache, make it read-only, make a miss an error, recompute every
// call, or recompute and compare every hit.
func (f *Func[A, R]) Call(ctx context.Context, args A) (R, error) {
	c := f.c
	if c.Closed() {
		return f.uncached(ctx, args)
	}
	pol := f.s.policyOf(ctx)
	var zero R
	if pol.off {
		c.Count(engine.StatComputes)
		finish(ctx, c, SourceOff, CallInfo{Source: SourceOff})
		return f.fn(ctx, args)
	}
	k, err := c.Key(args, true)
	if err != nil {
		return zero, err
	}
	k.NoWrite = !pol.write
	dst := newValue[R](c)
	waited := false
	for {
		fd := engine.Found{}
		if pol.lookup {
			fd = c.Lookup(ctx, &k, dst)
		}
		if fd.Bad && !waited {
			c.Count(engine.StatCorrupt)
		}
		if fd.Hit {
			// Served from the local cache, or (waited) computed by another
			// goroutine while this call waited: a miss served by waiting.
			as := SourceLocal
			if waited {
				as = SourceWaited
			}
			if pol.verify {
				return f.verify(ctx, &k, args, dst, &fd, as)
			}
			finish(ctx, c, as, CallInfo{Hit: !waited, Source: as, Key: k.Hash, Bytes: dst.Size})
			return dst.V, nil
		}
		if pol.failMiss {
			if c.FromRemote(ctx, &k, dst, false) {
				finish(ctx, c, SourceRemote, CallInfo{Hit: true, Source: SourceRemote, Key: k.Hash, Bytes: dst.Size})
				return dst.V, nil
			}
			finish(ctx, c, SourceMiss, CallInfo{Key: k.Hash, Source: SourceMiss})
			return zero, errorf("%s: %w", c.Name(), ErrCacheMiss)
		}
		fl, leader := c.Join(&k)
		if leader {
			return f.lead(ctx, &k, args, fl, fd.Prev, dst, pol)
		}
		if err := fl.Wait(ctx); err != nil {
			return zero, errorf("%s: waiting for another goroutine computing key %x: %w", c.Name(), k.Hash[:6], err)
		}
		if fl.Err() != nil && !engine.IsContextErr(fl.Err()) {
			return zero, fl.Err()
		}
		// The leader stored it (look again), or gave up (panicked, was
		// cancelled, could not store): then this caller computes. Under
		// ModeRefresh the leader's fresh result is what we want.
		waited = true
		pol.replace, pol.lookup = false, true
	}
}

// errPanicked is the error a call's observers see when the function
// panicked (the panic itself goes on to the caller).
var errPanicked = errors.New("the function panicked")

// lead computes k under its cross-process lock, unless another process
// stored it while this one waited for the lock, and lands the flight fl.
func (f *Func[A, R]) lead(ctx context.Context, k *engine.CallKey, args A, fl *engine.Flight, prev int64, dst *engine.Value[R], pol policy) (_ R, err error) {
	c := f.c
	var zero R
	landed := false
	land := func(committed bool, err error) {
		landed = true
		c.Land(k, fl, committed, err)
	}
	defer func() {
		if !landed { // fn panicked: the panic goes on to our caller
			land(false, nil)
			finish(ctx, c, SourceComputed, CallInfo{Key: k.Hash, Source: SourceComputed, Err: errPanicked})
		}
	}()
	var unlock func(bool)
	if !k.NoWrite {
		if unlock, err = c.LockKey(ctx, k); err != nil {
			land(false, err)
			return zero, err
		}
	} else {
		unlock = func(bool) {} // a read-only call stores nothing: no other process waits for it
	}
	committed := false
	defer func() { unlock(committed) }()
	if pol.replace {
		if t := c.Current(k, false); t != 0 {
			prev = t // the new result must win over it
		}
	} else if fd := c.Lookup(ctx, k, dst); fd.Hit {
		// Another process stored it while this one waited for the key's
		// lock: a miss served by waiting.
		land(true, nil)
		if pol.verify {
			return f.verify(ctx, k, args, dst, &fd, SourceWaited)
		}
		finish(ctx, c, SourceWaited, CallInfo{Source: SourceWaited, Key: k.Hash, Bytes: dst.Size})
		return dst.V, nil
	} else if fd.Prev != 0 {
		prev = fd.Prev
	} else if c.FromRemote(ctx, k, dst, c.WorthAsking()) {
		land(true, nil)
		finish(ctx, c, SourceRemote, CallInfo{Hit: true, Source: SourceRemote, Key: k.Hash, Bytes: dst.Size})
		return dst.V, nil
	} else if lease, served := c.ClaimRemote(ctx, k, dst); served {
		land(true, nil)
		finish(ctx, c, SourceWaited, CallInfo{Source: SourceWaited, Key: k.Hash, Bytes: dst.Size})
		return dst.V, nil
	} else if lease != nil {
		defer func() { lease.Release(committed) }()
	}
	r, took, err := f.compute(ctx, args, !k.NoWrite)
	if err != nil {
		land(false, err)
		finish(ctx, c, SourceComputed, CallInfo{Key: k.Hash, Source: SourceComputed, ComputeTime: took, Err: err})
		return zero, err
	}
	out, n, committed, err := f.store(ctx, k, r, prev)
	land(committed, nil)
	finish(ctx, c, SourceComputed, CallInfo{Key: k.Hash, Source: SourceComputed, ComputeTime: took, Bytes: n, Stored: committed, Err: err})
	return out, err
}

// compute calls the function, counting the computation (and its failure)
// and timing it. A function whose results are Blobs writes them straight
// into the store when the call may write.
func (f *Func[A, R]) compute(ctx context.Context, args A, write bool) (R, time.Duration, error) {
	if f.blob && write {
		ctx = context.WithValue(ctx, blobKey{}, f.c)
	}
	f.c.Count(engine.StatComputes)
	start := time.Now()
	r, err := f.fn(ctx, args)
	took := time.Since(start)
	if err != nil {
		f.c.Count(engine.StatErrors)
	}
	f.c.Computed(took)
	return r, took, err
}

// verify recomputes a hit (ModeVerify) and compares: the result's encoding
// with the stored bytes, each out file's new contents with the recorded
// ones. A difference is an error wrapping ErrVerifyMismatch. The call
// counts as the hit was served (as).
func (f *Func[A, R]) verify(ctx context.Context, k *engine.CallKey, args A, dst *engine.Value[R], fd *engine.Found, as Source) (R, error) {
	c := f.c
	var zero R
	info := CallInfo{Hit: true, Source: SourceVerified, Key: k.Hash}
	r, took, err := f.compute(ctx, args, !k.NoWrite)
	info.ComputeTime = took
	if err != nil {
		info.Err = err
		finish(ctx, c, as, info)
		return zero, err
	}
	if f.blob {
		return f.verifyBlob(ctx, k, r, dst, fd, as, info)
	}
	b, err := c.Codec().Marshal(r)
	if err != nil {
		info.Err = errorf("%s: verify key %x: encode result %T: %w", c.Name(), k.Hash[:6], r, err)
		finish(ctx, c, as, info)
		return zero, info.Err
	}
	info.Bytes = int64(len(b))
	mismatch := ""
	if stored := dst.Stored(); !c.SameResult(b, stored) {
		mismatch = fmt.Sprintf("the result (stored: %d bytes, recomputed: %d bytes)", len(stored), len(b))
	} else if what := c.OutsDiffer(k, &fd.E); what != "" {
		mismatch = what
	}
	if mismatch != "" {
		c.Count(engine.StatMismatches)
		info.Err = errorf("%s: key %x: %s differs: %w", c.Name(), k.Hash[:6], mismatch, ErrVerifyMismatch)
		finish(ctx, c, as, info)
		return zero, info.Err
	}
	finish(ctx, c, as, info)
	return dst.V, nil
}

// store encodes a computed result, decodes it back (that copy is what the
// call returns: what every later hit will return) and commits it, unless
// the call is read-only. A result that cannot be stored is returned anyway;
// see storeFailed. It returns the encoded size.
func (f *Func[A, R]) store(ctx context.Context, k *engine.CallKey, r R, prev int64) (R, int64, bool, error) {
	c := f.c
	if f.blob {
		return f.storeBlob(ctx, k, r, prev)
	}
	if out, n, stored, err, ok := f.storeStream(ctx, k, r, prev); ok {
		return out, n, stored, err
	}
	b, err := c.Codec().Marshal(r)
	if err != nil {
		return r, 0, false, c.StoreFailed(k, errorf("encode result %T: %w", r, err))
	}
	dst := newValue[R](c)
	if err := dst.Decode(b); err != nil {
		return r, 0, false, c.StoreFailed(k, errorf("result %T does not decode back: %w", r, err))
	}
	if k.NoWrite {
		return dst.V, int64(len(b)), false, nil
	}
	return f.committed(k, dst.V, int64(len(b)), c.Commit(ctx, []engine.Pending{{Key: k, Data: b, Prev: prev}}))
}

// committed ends a store whose commit returned err: out (of n encoded
// bytes) is what the call returns, stored when err is nil. A declared out
// file the function did not write is the call's own error (nothing is
// cached, no result returned); any other failure is the cache's, and the
// result is returned all the same (see StoreFailed).
func (f *Func[A, R]) committed(k *engine.CallKey, out R, n int64, err error) (R, int64, bool, error) {
	switch {
	case err == nil:
		return out, n, true, nil
	case engine.MissingOut(err):
		f.c.Count(engine.StatErrors)
		var zero R
		return zero, 0, false, errorf("%s: %w (nothing was cached)", f.c.Name(), err)
	}
	return out, n, false, f.c.StoreFailed(k, err)
}

// uncached computes a call on a closed Store.
func (f *Func[A, R]) uncached(ctx context.Context, args A) (R, error) {
	if f.c.StrictStore() {
		var zero R
		return zero, errorf("%s: %w", f.c.Name(), ErrClosed)
	}
	f.c.Count(engine.StatComputes)
	return f.fn(ctx, args)
}

// Contains reports whether args have an entry whose result is present,
// without computing anything. Out-file arguments are ignored.
func (f *Func[A, R]) Contains(ctx context.Context, args A) (bool, error) {
	if f.c.Closed() {
		return false, ErrClosed
	}
	k, err := f.c.Key(args, false)
	if err != nil {
		return false, err
	}
	return f.c.Contains(&k, newValue[R](f.c))
}

// Key returns the key of the call with args, as 64 lowercase hex digits:
// the hash pcache-fsck ls prints for its entry and pcache-fsck rm -key
// takes. It covers the arguments (after the key rules), the Version, the
// codec and the result type; out-file paths are not part of it.
func (f *Func[A, R]) Key(args A) (string, error) {
	k, err := f.c.Key(args, false)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(k.Hash[:]), nil
}

// StableHash returns the lowercase hex BLAKE3-256 of the canonical encoding
// of v: the same on every OS, architecture and pcache version.
func StableHash(v any) (string, error) { return keying.StableHash(v) }

// Forget drops the entry of the call with args, so that the next such call
// computes again. It records a tombstone (in this cache, and on the remote
// when there is one): no file is rewritten, and copies of the cache made
// with rsync forget the entry too once the tombstone reaches them. The
// result's object stays until gc. Forgetting a call that has no entry is
// not an error.
func (f *Func[A, R]) Forget(ctx context.Context, args A) error {
	k, err := f.c.Key(args, false)
	if err != nil {
		return err
	}
	return f.c.Forget(ctx, &k)
}

// ForgetAll drops every entry of the function written until now (in every
// cache the tombstone reaches: rsync copies, the remote), with one
// function-wide tombstone. It is scoped to the function's result type: a
// function wrapped under the same name with another result type keeps its
// entries (pcache-fsck rm NAME drops them all).
func (f *Func[A, R]) ForgetAll(ctx context.Context) error { return f.c.ForgetAll(ctx) }

// streamer is a codec that writes a large result as a stream from the
// value's own memory and copies it exactly (codec.Numeric).
type streamer interface {
	Stream(v any) (size int64, write func(w io.Writer) error, ok bool)
	Clone(v any) any
}

// storeStream stores a large result whose codec writes it as a stream:
// straight from the value's memory into the object store, so a miss
// allocates one copy of the value (the one it returns, exactly what a
// decode of the stored bytes gives) instead of an encoding and a decoded
// copy. ok is false when the result is not one (the caller encodes it).
func (f *Func[A, R]) storeStream(ctx context.Context, k *engine.CallKey, r R, prev int64) (_ R, n int64, stored bool, err error, ok bool) {
	c := f.c
	sc, isStreamer := c.Codec().(streamer)
	if !isStreamer || c.Compresses() {
		return r, 0, false, nil, false // compressed results are encoded, then compressed whole
	}
	size, write, ok := sc.Stream(r)
	if !ok || size < engine.DirectFrom {
		return r, 0, false, nil, false
	}
	out := sc.Clone(r).(R)
	if k.NoWrite {
		return out, size, false, nil, true
	}
	w, err := c.CreateObject()
	if err == nil {
		if err = write(w); err != nil {
			w.Abort()
		}
	}
	if err == nil {
		err = c.Commit(ctx, []engine.Pending{{Key: k, Object: w, Prev: prev}})
	}
	out, n, stored, err = f.committed(k, out, size, err)
	return out, n, stored, err, true
}
