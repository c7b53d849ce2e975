package pcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"

	"github.com/pcache/pcache/internal/engine"
)

// The default Store, shared by Default and the memoizers.
var dflt struct {
	mu sync.Mutex
	s  *Store
}

// Default returns the process-wide Store, opening it on first use with
// Open("") (the directory is $PCACHE_DIR, else <user cache dir>/pcache;
// $PCACHE_REMOTE and $PCACHE_MODE apply as to any Open). Memo and its
// relatives use it. After Close, the next Default opens it again.
//
// Without a remote a program need not close it: every entry is committed
// locally when its call returns. With a remote ($PCACHE_REMOTE), close it
// (defer pcache.Close() in main): Close publishes what the remote tier has
// queued — the entries of the program's last moments — and says in its
// error how many it could not; without it they wait for the next Open of
// this cache on this machine.
func Default() (*Store, error) {
	dflt.mu.Lock()
	defer dflt.mu.Unlock()
	if dflt.s != nil && !dflt.s.e.Closed() {
		return dflt.s, nil
	}
	s, err := Open("")
	if err != nil {
		return nil, err
	}
	dflt.s = s
	return s, nil
}

// Close closes the default Store if it is open (see Default and
// Store.Close: with a remote, an error says how many entries were left
// unpublished).
func Close() error {
	dflt.mu.Lock()
	s := dflt.s
	dflt.s = nil
	dflt.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Close()
}

// Params names the parameters of a Memo2 or Memo3 function, in order: the
// key is {name: value} by these names (so renaming a Go parameter never
// changes it), key-rule options (Ignore, DropIfEqual, OutFile, ...) refer
// to them, and a Wrap of a struct with these field names (or pcache tags)
// shares the entries. Without Params the names are arg1, arg2, arg3.
// Choose them before the first entries are written: other names are other
// keys.
func Params(names ...string) Option {
	return func(o *funcOptions) error {
		if o.params != nil {
			return errors.New("Params given twice")
		}
		seen := map[string]bool{}
		for _, n := range names {
			if n == "" || n == "-" || strings.ContainsAny(n, ",\"`") || seen[n] {
				return fmt.Errorf("Params(%q): names must be distinct, non-empty, not \"-\", without commas or quotes", names)
			}
			seen[n] = true
		}
		o.params = append([]string{}, names...)
		return nil
	}
}

// memo is what a memoizer holds: the compiled spec, the function, and the
// Func bound to the default Store on first use.
type memo[X, R any] struct {
	sp *engine.Spec
	fn func(context.Context, X) (R, error)

	mu       sync.Mutex
	f        *Func[X, R]
	reported bool
}

// mustMemo compiles a memoizer's spec, panicking on a mistake (like
// regexp.MustCompile: a package-level var fails at start-up).
func mustMemo[X, R any](kind, name string, argType reflect.Type, fn func(context.Context, X) (R, error), opts []Option) *memo[X, R] {
	sp, err := compileSpec(name, argType, reflect.TypeFor[R](), defaultCodec[R](), opts)
	if err != nil {
		panic(fmt.Sprintf("pcache.%s: %v", kind, err))
	}
	return &memo[X, R]{sp: sp, fn: fn}
}

// get returns the Func on the default Store, (re)binding it when there is
// none or its Store was closed; nil when the default Store cannot be
// opened (the call then computes without the cache), with the error when
// that is a configuration mistake (ErrConfig), which must not be computed
// around.
func (m *memo[X, R]) get() (*Func[X, R], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.f != nil && !m.f.u.c.Closed() {
		return m.f, nil
	}
	s, err := Default()
	if errors.Is(err, ErrConfig) {
		return nil, err
	}
	if err == nil {
		var c *engine.Fn
		if c, err = s.e.Bind(m.sp); err == nil {
			m.f = newFunc(s, c, m.fn)
			m.reported = false
			return m.f, nil
		}
	}
	if !m.reported { // once per failure, not once per call
		m.reported = true
		slog.Default().Warn("pcache: memoized function runs without the cache", "function", m.sp.Name, "err", err)
	}
	m.f = nil
	return nil, nil
}

// ranKey marks a memoized call's context with the slot its function
// reports to: whether it ran and what it returned.
type ranKey struct{}

type ran[R any] struct {
	done bool
	r    R
	err  error
}

// call is a memoized call: a cache problem costs neither the result nor a
// panic. With strict (the memoizer returns errors), ErrCacheMiss and
// ErrVerifyMismatch are returned; otherwise they are logged and the value
// computed.
func (m *memo[X, R]) call(x X, strict bool) (R, error) {
	f, err := m.get()
	if err != nil {
		// A mistyped PCACHE_MODE: computing anyway would hide it (a CI job
		// meant to fail on any miss would pass).
		if strict {
			var zero R
			return zero, errorf("%s: %w", m.sp.Name, err)
		}
		panic(fmt.Sprintf("pcache: memoized function %s: %v", m.sp.Name, strings.TrimPrefix(err.Error(), "pcache: ")))
	}
	if f == nil {
		return m.fn(context.Background(), x)
	}
	slot := &ran[R]{}
	r, err := f.Call(context.WithValue(context.Background(), ranKey{}, slot), x)
	if err == nil {
		return r, nil
	}
	if errors.Is(err, ErrVerifyMismatch) && slot.done {
		// Verify recomputed a hit and the function's new result differs
		// from the stored one (counted in Stats.Mismatches). The error is
		// the caller's, not the function's: checked before slot.done, which
		// would return the new result as if nothing had happened.
		if strict {
			return r, err
		}
		// No error to return: the mismatch is logged at error level, and
		// the new result, computed already, is the truth.
		f.u.c.Logger().Error("pcache: "+strings.TrimPrefix(err.Error(), "pcache: "), "function", m.sp.Name)
		return slot.r, nil
	}
	if slot.done {
		return slot.r, slot.err // the function ran: its own result, and its own error
	}
	if !engine.IsOwn(err) {
		return r, err // another goroutine's computation of this key failed with the function's error
	}
	if strict && errors.Is(err, ErrCacheMiss) {
		return r, err
	}
	f.u.c.Logger().Warn("pcache: memoized call computed without the cache", "function", m.sp.Name, "err", err)
	return m.fn(context.Background(), x)
}

// report wraps a memoized function so it tells its call's slot that it ran.
func report[X, R any](fn func(context.Context, X) (R, error)) func(context.Context, X) (R, error) {
	return func(ctx context.Context, x X) (R, error) {
		r, err := fn(ctx, x)
		if slot, ok := ctx.Value(ranKey{}).(*ran[R]); ok {
			slot.done, slot.r, slot.err = true, r, err
		}
		return r, err
	}
}

// Memo returns fn cached under name on the default Store: a function of the
// same type, so
//
//	var score = pcache.Memo("ml/score", score0)
//
// replaces a plain function one for one. The key is the canonical encoding
// of the argument (as Wrap keys it, so a Wrap of the same name and types
// shares the entries); opts are Wrap's. A name or option that is invalid
// panics here, when the memoizer is built. A call never panics because of
// the cache and never loses its result to it: with the cache unusable
// (a directory that cannot be written, a key that cannot be encoded) the
// function is computed, and the problem logged. Equal arguments in
// concurrent calls compute once, across processes too. Memo has no error
// to return: under ModeErrorOnMiss (PCACHE_MODE) a miss is logged (warn)
// and the value computed; under ModeVerify a hit whose recomputed result
// differs from the stored one is logged at error level through the Store's
// logger (the message wraps ErrVerifyMismatch's and names the function and
// key) and counted in Stats.Mismatches of the default Store, and the
// recomputed value is returned. Use MemoErr to get ErrVerifyMismatch as an
// error. One thing is not computed around: an unknown $PCACHE_MODE (say
// error_on_miss for error-on-miss) panics on the first call, naming the
// variable, so a job that meant to fail on any miss cannot pass with the
// cache quietly off (MemoErr and its relatives return an error wrapping
// ErrConfig instead). A bad $PCACHE_REMOTE, $PCACHE_REMOTE_MODE or
// $PCACHE_REMOTE_FLUSH turns off only the remote, logged at error level.
//
// Methods and closures: only the argument is the key. A method value
// (obj.Method) or a closure over variables computes with state the key
// does not see; pass that state as the argument (Memo2, Memo3, or a
// struct), or fold it into the name or Version.
func Memo[A, R any](name string, fn func(A) R, opts ...Option) func(A) R {
	if fn == nil {
		panic(fmt.Sprintf("pcache.Memo %q: nil function", name))
	}
	m := mustMemo("Memo", name, reflect.TypeFor[A](), report(func(_ context.Context, a A) (R, error) { return fn(a), nil }), opts)
	return func(a A) R {
		r, _ := m.call(a, false)
		return r
	}
}

// MemoErr is Memo for a function that can fail: its errors are returned
// and not cached. ErrCacheMiss (ModeErrorOnMiss) and ErrVerifyMismatch
// (ModeVerify: a hit recomputed to a different result, also counted in
// Stats.Mismatches) are returned too, wrapped, with R's zero value, as
// Func.Call returns them, and so is an unknown $PCACHE_MODE (ErrConfig,
// without computing); any other cache problem is logged and the function
// computed.
func MemoErr[A, R any](name string, fn func(A) (R, error), opts ...Option) func(A) (R, error) {
	if fn == nil {
		panic(fmt.Sprintf("pcache.MemoErr %q: nil function", name))
	}
	m := mustMemo("MemoErr", name, reflect.TypeFor[A](), report(func(_ context.Context, a A) (R, error) { return fn(a) }), opts)
	return func(a A) (R, error) { return m.call(a, true) }
}

// Memo2 is Memo for a function of two parameters, keyed by position under
// the names Params gives (arg1 and arg2 without it). Modes work as for Memo:
// a verify mismatch is logged at error level and counted.
func Memo2[A, B, R any](name string, fn func(A, B) R, opts ...Option) func(A, B) R {
	if fn == nil {
		panic(fmt.Sprintf("pcache.Memo2 %q: nil function", name))
	}
	p := mustParams("Memo2", name, opts, reflect.TypeFor[A](), reflect.TypeFor[B]())
	m := mustMemo("Memo2", name, p.t, report(func(_ context.Context, x any) (R, error) {
		v := p.values(x)
		return fn(as[A](v[0]), as[B](v[1])), nil
	}), p.opts)
	return func(a A, b B) R {
		r, _ := m.call(p.pack(a, b), false)
		return r
	}
}

// MemoErr2 is Memo2 for a function that can fail (see MemoErr: a verify
// mismatch is returned as an error wrapping ErrVerifyMismatch).
func MemoErr2[A, B, R any](name string, fn func(A, B) (R, error), opts ...Option) func(A, B) (R, error) {
	if fn == nil {
		panic(fmt.Sprintf("pcache.MemoErr2 %q: nil function", name))
	}
	p := mustParams("MemoErr2", name, opts, reflect.TypeFor[A](), reflect.TypeFor[B]())
	m := mustMemo("MemoErr2", name, p.t, report(func(_ context.Context, x any) (R, error) {
		v := p.values(x)
		return fn(as[A](v[0]), as[B](v[1]))
	}), p.opts)
	return func(a A, b B) (R, error) { return m.call(p.pack(a, b), true) }
}

// Memo3 is Memo for a function of three parameters (see Memo2; a verify
// mismatch is logged at error level and counted, as by Memo).
func Memo3[A, B, C, R any](name string, fn func(A, B, C) R, opts ...Option) func(A, B, C) R {
	if fn == nil {
		panic(fmt.Sprintf("pcache.Memo3 %q: nil function", name))
	}
	p := mustParams("Memo3", name, opts, reflect.TypeFor[A](), reflect.TypeFor[B](), reflect.TypeFor[C]())
	m := mustMemo("Memo3", name, p.t, report(func(_ context.Context, x any) (R, error) {
		v := p.values(x)
		return fn(as[A](v[0]), as[B](v[1]), as[C](v[2])), nil
	}), p.opts)
	return func(a A, b B, c C) R {
		r, _ := m.call(p.pack(a, b, c), false)
		return r
	}
}

// MemoErr3 is Memo3 for a function that can fail (see MemoErr: a verify
// mismatch is returned as an error wrapping ErrVerifyMismatch).
func MemoErr3[A, B, C, R any](name string, fn func(A, B, C) (R, error), opts ...Option) func(A, B, C) (R, error) {
	if fn == nil {
		panic(fmt.Sprintf("pcache.MemoErr3 %q: nil function", name))
	}
	p := mustParams("MemoErr3", name, opts, reflect.TypeFor[A](), reflect.TypeFor[B](), reflect.TypeFor[C]())
	m := mustMemo("MemoErr3", name, p.t, report(func(_ context.Context, x any) (R, error) {
		v := p.values(x)
		return fn(as[A](v[0]), as[B](v[1]), as[C](v[2]))
	}), p.opts)
	return func(a A, b B, c C) (R, error) { return m.call(p.pack(a, b, c), true) }
}

// params is the argument struct of a Memo2 or Memo3: a struct type made at
// run time with one field per parameter, tagged with its name, so it keys
// exactly like a hand-written struct with those pcache tags.
type params struct {
	t    reflect.Type
	opts []Option // the caller's, Params removed
}

func mustParams(kind, name string, opts []Option, types ...reflect.Type) *params {
	var o funcOptions
	var rest []Option
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		var probe funcOptions
		if err := opt(&probe); err != nil {
			panic(fmt.Sprintf("pcache.%s %q: %v", kind, name, err))
		}
		if probe.params != nil {
			if o.params != nil {
				panic(fmt.Sprintf("pcache.%s %q: Params given twice", kind, name))
			}
			o.params = probe.params
			continue
		}
		rest = append(rest, opt)
	}
	names := o.params
	if names == nil {
		for i := range types {
			names = append(names, fmt.Sprintf("arg%d", i+1))
		}
	}
	if len(names) != len(types) {
		panic(fmt.Sprintf("pcache.%s %q: Params names %d parameters; the function has %d", kind, name, len(names), len(types)))
	}
	fields := make([]reflect.StructField, len(types))
	for i, t := range types {
		fields[i] = reflect.StructField{Name: fmt.Sprintf("P%d", i+1), Type: t, Tag: reflect.StructTag(`pcache:"` + names[i] + `"`)}
	}
	return &params{t: reflect.StructOf(fields), opts: rest}
}

// pack makes the argument struct of one call.
func (p *params) pack(vs ...any) any {
	v := reflect.New(p.t).Elem()
	for i, x := range vs {
		if x != nil {
			v.Field(i).Set(reflect.ValueOf(x))
		}
	}
	return v.Interface()
}

// values unpacks it.
func (p *params) values(x any) []reflect.Value {
	v := reflect.ValueOf(x)
	out := make([]reflect.Value, v.NumField())
	for i := range out {
		out[i] = v.Field(i)
	}
	return out
}

// as converts a parameter's value back to its static type (a nil
// interface included).
func as[T any](v reflect.Value) T {
	var t T
	reflect.ValueOf(&t).Elem().Set(v)
	return t
}
