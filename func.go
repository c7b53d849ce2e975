package pcache

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/engine"
	"github.com/pcache/pcache/internal/keying"
)

// Func is a cached function made by Wrap. It is safe for concurrent use.
//
// Func is a typed shell: each method hands its arguments and a sink of
// type R to the call path every Func shares (untyped, below), which is
// compiled once however many argument and result types a program wraps.
type Func[A, R any] struct {
	u  untyped
	fn func(context.Context, A) (R, error)
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
	return newFunc(s, c, fn), nil
}

// newFunc makes the Func of fn bound to c in s.
func newFunc[A, R any](s *Store, c *engine.Fn, fn func(context.Context, A) (R, error)) *Func[A, R] {
	return &Func[A, R]{u: newUntyped(s, c, isBlob[R]()), fn: fn}
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
func (f *Func[A, R]) Name() string { return f.u.c.Name() }

// Stats returns the counters of this Func's calls.
func (f *Func[A, R]) Stats() Stats { return fnStats(f.u.c) }

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
	pol, err := f.u.begin(ctx)
	if err != nil {
		var zero R
		return zero, err
	}
	if pol.off { // the function and nothing else: no sink, no key
		return f.fn(ctx, args)
	}
	x := newValue[R](&f.u)
	err = f.u.call(ctx, pol, args, x, func(ctx context.Context) (any, error) {
		r, err := f.fn(ctx, args)
		return r, err
	})
	return x.V, err
}

// newValue returns the sink a call of u decodes a result of type R into.
// It is small on purpose: it is compiled into every method of every
// Func[A, R] a program makes.
func newValue[R any](u *untyped) *engine.Value[R] {
	return &engine.Value[R]{Codec: u.c.Codec(), FromObject: u.fromObject}
}

// Contains reports whether args have an entry whose result is present,
// without computing anything. Out-file arguments are ignored.
func (f *Func[A, R]) Contains(ctx context.Context, args A) (bool, error) {
	return f.u.contains(args, newValue[R](&f.u))
}

// Key returns the key of the call with args, as 64 lowercase hex digits:
// the hash pcache-fsck ls prints for its entry and pcache-fsck rm -key
// takes. It covers the arguments (after the key rules), the Version, the
// codec and the result type; out-file paths are not part of it.
func (f *Func[A, R]) Key(args A) (string, error) { return f.u.key(args) }

// StableHash returns the lowercase hex BLAKE3-256 of the canonical encoding
// of v: the same on every OS, architecture and pcache version.
func StableHash(v any) (string, error) { return keying.StableHash(v) }

// Forget drops the entry of the call with args, so that the next such call
// computes again. It records a tombstone (in this cache, and on the remote
// when there is one): no file is rewritten, and copies of the cache made
// with rsync forget the entry too once the tombstone reaches them. The
// result's object stays until gc. Forgetting a call that has no entry is
// not an error.
func (f *Func[A, R]) Forget(ctx context.Context, args A) error { return f.u.forget(ctx, args) }

// ForgetAll drops every entry of the function written until now (in every
// cache the tombstone reaches: rsync copies, the remote), with one
// function-wide tombstone. It is scoped to the function's result type: a
// function wrapped under the same name with another result type keeps its
// entries (pcache-fsck rm NAME drops them all).
func (f *Func[A, R]) ForgetAll(ctx context.Context) error { return f.u.c.ForgetAll(ctx) }

// untyped is a Func without its types: the call path every Func[A, R]
// shares (look up, wait, lead, compute, verify, store), compiled once
// rather than once per argument and result type a program wraps.
type untyped struct {
	s    *Store
	c    *engine.Fn
	blob bool // results are Blobs: objects of their own
	// fromObject makes the Blob of a stored object (nil unless blob): the
	// sink's FromObject.
	fromObject func(id cas.ID, size int64) any
}

// newUntyped returns the call path of function c of s; blob says whether
// its results are Blobs.
func newUntyped(s *Store, c *engine.Fn, blob bool) untyped {
	u := untyped{s: s, c: c, blob: blob}
	if blob { // no value of R made on every call
		u.fromObject = blobsOf{c}.object // a method value: no closure body per result type
	}
	return u
}

// blobsOf makes the Blobs of function c's stored objects.
type blobsOf struct{ c *engine.Fn }

func (b blobsOf) object(id cas.ID, size int64) any { return storedBlob(b.c, id, size) }

// result is a call's result as the untyped path sees it: the sink a
// stored result decodes into, whose value is what the call returns (an
// *engine.Value[R]).
type result interface {
	engine.Sink
	Stored() []byte
	Len() int64
	Set(r any) // r (an R; nil for the zero R) is what the call returns
}

// runner runs the function on a call's arguments: its result boxed. The
// untyped path only calls it (it never outlives the call, so the closure
// a Func makes for it stays on the caller's stack).
type runner func(ctx context.Context) (any, error)

// begin starts a call: its policy, whose off says the call runs the
// function and nothing else (ModeOff, or a closed Store), counted and
// observed as such before the caller runs it. On a closed Store that
// returns store errors the call fails with ErrClosed.
func (u *untyped) begin(ctx context.Context) (policy, error) {
	c := u.c
	if c.Closed() {
		if c.StrictStore() {
			return policy{}, errorf("%s: %w", c.Name(), ErrClosed)
		}
		c.Count(engine.StatComputes)
		return policy{off: true}, nil
	}
	pol := u.s.policyOf(ctx)
	if pol.off {
		c.Count(engine.StatComputes)
		finish(ctx, c, SourceOff, CallInfo{Source: SourceOff})
	}
	return pol, nil
}

// call serves one call under pol (begun, not off): from the cache, by
// waiting for another caller computing the same key, or by computing and
// storing it. What the call returns is left in x: the zero R when err is
// not nil, except for a computed result the cache could not store, which
// goes with its error.
func (u *untyped) call(ctx context.Context, pol policy, args any, x result, run runner) error {
	c := u.c
	k, err := c.Key(args, true)
	if err != nil {
		return err
	}
	k.NoWrite = !pol.write
	waited := false
	for {
		fd := engine.Found{}
		if pol.lookup {
			fd = c.Lookup(ctx, &k, x)
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
				return u.verify(ctx, &k, x, run, &fd, as)
			}
			finish(ctx, c, as, CallInfo{Hit: !waited, Source: as, Key: k.Hash, Bytes: x.Len()})
			return nil
		}
		if pol.failMiss {
			if c.FromRemote(ctx, &k, x, false) {
				finish(ctx, c, SourceRemote, CallInfo{Hit: true, Source: SourceRemote, Key: k.Hash, Bytes: x.Len()})
				return nil
			}
			finish(ctx, c, SourceMiss, CallInfo{Key: k.Hash, Source: SourceMiss})
			return failed(x, errorf("%s: %w", c.Name(), ErrCacheMiss))
		}
		fl, leader := c.Join(&k)
		if leader {
			return u.lead(ctx, &k, x, run, fl, fd.Prev, pol)
		}
		if err := fl.Wait(ctx); err != nil {
			return failed(x, errorf("%s: waiting for another goroutine computing key %x: %w", c.Name(), k.Hash[:6], err))
		}
		if fl.Err() != nil && !engine.IsContextErr(fl.Err()) {
			return failed(x, fl.Err())
		}
		// The leader stored it (look again), or gave up (panicked, was
		// cancelled, could not store): then this caller computes. Under
		// ModeRefresh the leader's fresh result is what we want.
		waited = true
		pol.replace, pol.lookup = false, true
	}
}

// failed ends a call that returns err and no result: a lookup that
// missed may have decoded a value into x (an entry whose out files could
// not be restored), which must not go back with the error.
func failed(x result, err error) error {
	x.Set(nil)
	return err
}

// errPanicked is the error a call's observers see when the function
// panicked (the panic itself goes on to the caller).
var errPanicked = errors.New("the function panicked")

// lead computes k under its cross-process lock, unless another process
// stored it while this one waited for the lock, and lands the flight fl.
func (u *untyped) lead(ctx context.Context, k *engine.CallKey, x result, run runner, fl *engine.Flight, prev int64, pol policy) (err error) {
	c := u.c
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
			return failed(x, err)
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
	} else if fd := c.Lookup(ctx, k, x); fd.Hit {
		// Another process stored it while this one waited for the key's
		// lock: a miss served by waiting.
		land(true, nil)
		if pol.verify {
			return u.verify(ctx, k, x, run, &fd, SourceWaited)
		}
		finish(ctx, c, SourceWaited, CallInfo{Source: SourceWaited, Key: k.Hash, Bytes: x.Len()})
		return nil
	} else if fd.Prev != 0 {
		prev = fd.Prev
	} else if c.FromRemote(ctx, k, x, c.WorthAsking()) {
		land(true, nil)
		finish(ctx, c, SourceRemote, CallInfo{Hit: true, Source: SourceRemote, Key: k.Hash, Bytes: x.Len()})
		return nil
	} else if lease, served := c.ClaimRemote(ctx, k, x); served {
		land(true, nil)
		finish(ctx, c, SourceWaited, CallInfo{Source: SourceWaited, Key: k.Hash, Bytes: x.Len()})
		return nil
	} else if lease != nil {
		defer func() { lease.Release(committed) }()
	}
	r, took, err := u.compute(ctx, run, !k.NoWrite)
	if err != nil {
		land(false, err)
		finish(ctx, c, SourceComputed, CallInfo{Key: k.Hash, Source: SourceComputed, ComputeTime: took, Err: err})
		return failed(x, err)
	}
	n, committed, err := u.store(ctx, k, x, r, prev)
	land(committed, nil)
	finish(ctx, c, SourceComputed, CallInfo{Key: k.Hash, Source: SourceComputed, ComputeTime: took, Bytes: n, Stored: committed, Err: err})
	return err
}

// compute calls the function, counting the computation (and its failure)
// and timing it. A function whose results are Blobs writes them straight
// into the store when the call may write.
func (u *untyped) compute(ctx context.Context, run runner, write bool) (any, time.Duration, error) {
	if u.blob && write {
		ctx = context.WithValue(ctx, blobKey{}, u.c)
	}
	u.c.Count(engine.StatComputes)
	start := time.Now()
	r, err := run(ctx)
	took := time.Since(start)
	if err != nil {
		u.c.Count(engine.StatErrors)
	}
	u.c.Computed(took)
	return r, took, err
}

// verify recomputes a hit (ModeVerify) and compares: the result's encoding
// with the stored bytes, each out file's new contents with the recorded
// ones. A difference is an error wrapping ErrVerifyMismatch. The call
// counts as the hit was served (as).
func (u *untyped) verify(ctx context.Context, k *engine.CallKey, x result, run runner, fd *engine.Found, as Source) error {
	c := u.c
	info := CallInfo{Hit: true, Source: SourceVerified, Key: k.Hash}
	r, took, err := u.compute(ctx, run, !k.NoWrite)
	info.ComputeTime = took
	if err == nil && u.blob {
		err = u.verifyBlob(k, r.(Blob), fd, &info)
	} else if err == nil {
		err = u.verifyEncoded(k, r, x, fd, &info)
	}
	info.Err = err
	finish(ctx, c, as, info)
	if err != nil {
		return failed(x, err)
	}
	return nil
}

// verifyEncoded compares a recomputed result r with the hit x: their
// encodings, and each out file's new contents with the recorded ones.
func (u *untyped) verifyEncoded(k *engine.CallKey, r any, x result, fd *engine.Found, info *CallInfo) error {
	c := u.c
	b, err := c.Codec().Marshal(r)
	if err != nil {
		return errorf("%s: verify key %x: encode result %T: %w", c.Name(), k.Hash[:6], r, err)
	}
	info.Bytes = int64(len(b))
	mismatch := ""
	if stored := x.Stored(); !c.SameResult(b, stored) {
		mismatch = fmt.Sprintf("the result (stored: %d bytes, recomputed: %d bytes)", len(stored), len(b))
	} else if what := c.OutsDiffer(k, &fd.E); what != "" {
		mismatch = what
	}
	if mismatch != "" {
		c.Count(engine.StatMismatches)
		return errorf("%s: key %x: %s differs: %w", c.Name(), k.Hash[:6], mismatch, ErrVerifyMismatch)
	}
	return nil
}

// store encodes a computed result r, decodes it back into x (that copy is
// what the call returns: what every later hit will return) and commits
// it, unless the call is read-only. A result that cannot be stored is
// returned anyway; see StoreFailed. It returns the encoded size.
func (u *untyped) store(ctx context.Context, k *engine.CallKey, x result, r any, prev int64) (int64, bool, error) {
	c := u.c
	if u.blob {
		return u.storeBlob(ctx, k, x, r.(Blob), prev)
	}
	if n, stored, err, ok := u.storeStream(ctx, k, x, r, prev); ok {
		return n, stored, err
	}
	b, err := c.Codec().Marshal(r)
	if err != nil {
		x.Set(r)
		return 0, false, c.StoreFailed(k, errorf("encode result %T: %w", r, err))
	}
	if err := x.Decode(b); err != nil {
		x.Set(r)
		return 0, false, c.StoreFailed(k, errorf("result %T does not decode back: %w", r, err))
	}
	if k.NoWrite {
		return int64(len(b)), false, nil
	}
	return u.committed(k, x, int64(len(b)), c.Commit(ctx, []engine.Pending{{Key: k, Data: b, Prev: prev}}))
}

// committed ends a store whose commit returned err: what x holds (of n
// encoded bytes) is what the call returns, stored when err is nil. A
// declared out file the function did not write is the call's own error
// (nothing is cached, no result returned); any other failure is the
// cache's, and the result is returned all the same (see StoreFailed).
func (u *untyped) committed(k *engine.CallKey, x result, n int64, err error) (int64, bool, error) {
	switch {
	case err == nil:
		return n, true, nil
	case engine.MissingOut(err):
		u.c.Count(engine.StatErrors)
		x.Set(nil)
		return 0, false, errorf("%s: %w (nothing was cached)", u.c.Name(), err)
	}
	return n, false, u.c.StoreFailed(k, err)
}

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
func (u *untyped) storeStream(ctx context.Context, k *engine.CallKey, x result, r any, prev int64) (n int64, stored bool, err error, ok bool) {
	c := u.c
	sc, isStreamer := c.Codec().(streamer)
	if !isStreamer || c.Compresses() {
		return 0, false, nil, false // compressed results are encoded, then compressed whole
	}
	size, write, ok := sc.Stream(r)
	if !ok || size < engine.DirectFrom {
		return 0, false, nil, false
	}
	x.Set(sc.Clone(r))
	if k.NoWrite {
		return size, false, nil, true
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
	n, stored, err = u.committed(k, x, size, err)
	return n, stored, err, true
}

// contains reports whether the call with args has an entry whose result
// is present (decodable into dst).
func (u *untyped) contains(args any, dst engine.Sink) (bool, error) {
	if u.c.Closed() {
		return false, ErrClosed
	}
	k, err := u.c.Key(args, false)
	if err != nil {
		return false, err
	}
	return u.c.Contains(&k, dst)
}

// key returns the key hash of the call with args, in hex.
func (u *untyped) key(args any) (string, error) {
	k, err := u.c.Key(args, false)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(k.Hash[:]), nil
}

// forget drops the entry of the call with args.
func (u *untyped) forget(ctx context.Context, args any) error {
	k, err := u.c.Key(args, false)
	if err != nil {
		return err
	}
	return u.c.Forget(ctx, &k)
}
