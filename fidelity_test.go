package pcache_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathbig "math/big"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pcache/pcache"
)

// TestVerifyThroughMemoizers: under PCACHE_MODE=verify every memoizer
// notices a function whose result changed under a stored entry. The MemoErr
// forms return ErrVerifyMismatch; the Memo forms, which have no error to
// return, return the recomputed value, log the mismatch at error level
// through the Store's logger and count it in Stats.Mismatches.
func TestVerifyThroughMemoizers(t *testing.T) {
	var salt atomic.Int64
	val := func(args ...int) string { return fmt.Sprint(args, salt.Load()) }
	for _, tc := range []struct {
		name   string
		strict bool
		call   func(name string) func() (string, error) // builds the memoizer, returns one call of it
	}{
		{"Memo", false, func(n string) func() (string, error) {
			f := pcache.Memo(n, func(a int) string { return val(a) })
			return func() (string, error) { return f(1), nil }
		}},
		{"Memo2", false, func(n string) func() (string, error) {
			f := pcache.Memo2(n, func(a, b int) string { return val(a, b) })
			return func() (string, error) { return f(1, 2), nil }
		}},
		{"Memo3", false, func(n string) func() (string, error) {
			f := pcache.Memo3(n, func(a, b, c int) string { return val(a, b, c) })
			return func() (string, error) { return f(1, 2, 3), nil }
		}},
		{"MemoErr", true, func(n string) func() (string, error) {
			f := pcache.MemoErr(n, func(a int) (string, error) { return val(a), nil })
			return func() (string, error) { return f(1) }
		}},
		{"MemoErr2", true, func(n string) func() (string, error) {
			f := pcache.MemoErr2(n, func(a, b int) (string, error) { return val(a, b), nil })
			return func() (string, error) { return f(1, 2) }
		}},
		{"MemoErr3", true, func(n string) func() (string, error) {
			f := pcache.MemoErr3(n, func(a, b, c int) (string, error) { return val(a, b, c), nil })
			return func() (string, error) { return f(1, 2, 3) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			useDefault(t)
			t.Setenv("PCACHE_MODE", "verify")
			var logs syncBuffer
			old := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil))) // the default Store's logger
			t.Cleanup(func() { slog.SetDefault(old) })
			salt.Store(0)
			name := "fidelity/verify-" + strings.ToLower(tc.name)
			call := tc.call(name)

			first, err := call() // a miss: computed and stored
			if err != nil {
				t.Fatal(err)
			}
			if again, err := call(); again != first || err != nil { // a hit, verified equal
				t.Fatalf("a deterministic function under verify: %q, %v", again, err)
			}
			s, err := pcache.Default()
			if err != nil {
				t.Fatal(err)
			}
			if n := s.Stats().Mismatches; n != 0 {
				t.Fatalf("no mismatch yet, Stats.Mismatches = %d", n)
			}

			salt.Store(1) // the code changed under the stored entry
			got, err := call()
			if tc.strict {
				if !errors.Is(err, pcache.ErrVerifyMismatch) || !strings.Contains(err.Error(), name) {
					t.Fatalf("%s after the result changed: %q, %v; want ErrVerifyMismatch naming %s", tc.name, got, err, name)
				}
				if strings.Count(err.Error(), "pcache:") != 1 {
					t.Errorf("error %q: want one pcache: prefix", err)
				}
			} else {
				if err != nil || got == first || !strings.HasSuffix(got, " 1") {
					t.Fatalf("%s after the result changed: %q; want the recomputed value", tc.name, got)
				}
				out := logs.String()
				if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "differs") || !strings.Contains(out, name) {
					t.Fatalf("%s: the mismatch was not logged at error level naming the function; log:\n%s", tc.name, out)
				}
			}
			if n := s.Stats().Mismatches; n != 1 {
				t.Fatalf("Stats.Mismatches = %d, want 1", n)
			}
		})
	}
}

// TestVerifyCountsWrapMismatches: Func and BatchFunc count mismatches too.
func TestVerifyCountsWrapMismatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var c counter
	s := openStore(t, t.TempDir(), pcache.DefaultMode(pcache.ModeVerify))
	f := pcache.MustWrap(s, "fidelity/verify-wrap", c.fn)
	b := pcache.MustWrapBatch(s, "fidelity/verify-batch", func(ctx context.Context, ns []int) ([]string, error) {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i], _ = c.fn(ctx, n)
		}
		return out, nil
	})
	mustCall(t, f, ctx, 1)
	if _, err := b.Call(ctx, []int{1}); err != nil {
		t.Fatal(err)
	}
	c.salt.Store(1)
	if _, err := f.Call(ctx, 1); !errors.Is(err, pcache.ErrVerifyMismatch) {
		t.Fatal(err)
	}
	if _, err := b.Call(ctx, []int{1}); !errors.Is(err, pcache.ErrVerifyMismatch) {
		t.Fatal(err)
	}
	if f.Stats().Mismatches != 1 || b.Stats().Mismatches != 1 || s.Stats().Mismatches != 2 {
		t.Fatalf("Mismatches: func %d, batch %d, store %d", f.Stats().Mismatches, b.Stats().Mismatches, s.Stats().Mismatches)
	}
}

// TestNilAndEmptyBytes: a nil []byte result comes back nil and an empty one
// empty, on the miss, on a hit, and on a hit after reopening, whether the
// codec is raw (a []byte result) or CBOR (a []byte inside a struct); a
// change between nil and empty is a verify mismatch.
func TestNilAndEmptyBytes(t *testing.T) {
	t.Parallel()
	type withBytes struct{ B []byte }
	ctx := context.Background()
	dir := t.TempDir()
	var empty atomic.Bool // what the x == 3 call returns: nil, or empty after the "code change"
	raw := func(_ context.Context, x int) ([]byte, error) {
		switch {
		case x == 1 || (x == 3 && !empty.Load()):
			return nil, nil
		case x == 2 || x == 3:
			return []byte{}, nil
		}
		return []byte("x"), nil
	}
	inStruct := func(_ context.Context, x int) (withBytes, error) {
		b, _ := raw(ctx, x)
		return withBytes{b}, nil
	}
	check := func(what string, got []byte, x int) {
		t.Helper()
		want, _ := raw(ctx, x)
		if (got == nil) != (want == nil) || string(got) != string(want) {
			t.Errorf("%s(%d) = %#v, want %#v", what, x, got, want)
		}
	}
	for round, phase := range []string{"miss", "hit", "hit after reopen"} {
		s := openStore(t, dir)
		f := pcache.MustWrap(s, "fidelity/bytes", raw)
		m := pcache.MustWrap(s, "fidelity/bytes-memo", raw)
		st := pcache.MustWrap(s, "fidelity/bytes-struct", inStruct)
		bt := pcache.MustWrapBatch(s, "fidelity/bytes-batch", func(ctx context.Context, xs []int) ([][]byte, error) {
			out := make([][]byte, len(xs))
			for i, x := range xs {
				out[i], _ = raw(ctx, x)
			}
			return out, nil
		})
		for _, x := range []int{1, 2, 4} {
			check("raw "+phase, mustCall(t, f, ctx, x), x)
			check("raw (second Func) "+phase, mustCall(t, m, ctx, x), x)
			check("cbor struct "+phase, mustCall(t, st, ctx, x).B, x)
		}
		got, err := bt.Call(ctx, []int{1, 2, 1, 4, 2})
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range []int{1, 2, 1, 4, 2} {
			check(fmt.Sprintf("batch %s element %d", phase, i), got[i], x)
		}
		if s.Stats().StoreErrors != 0 || (round == 0 && s.Stats().Stores == 0) {
			t.Fatalf("%s: %+v", phase, s.Stats())
		}
		s.Close()
	}

	// Verify tells nil from empty.
	s := openStore(t, dir, pcache.DefaultMode(pcache.ModeVerify))
	f := pcache.MustWrap(s, "fidelity/bytes", raw)
	check("raw", mustCall(t, f, ctx, 3), 3) // stored nil
	empty.Store(true)
	if _, err := f.Call(ctx, 3); !errors.Is(err, pcache.ErrVerifyMismatch) {
		t.Fatalf("nil stored, empty recomputed: %v, want ErrVerifyMismatch", err)
	}
}

// TestBinaryStrings: a string holding bytes that are not UTF-8 is cached and
// comes back byte for byte, alone and inside structs, slices, maps and any,
// with nothing logged.
func TestBinaryStrings(t *testing.T) {
	t.Parallel()
	type doc struct {
		S  string
		L  []string
		M  map[string]string
		A  any
		P  *string
		OK string
	}
	bin := "\xff\xfe\x00bin\xc3"
	ctx := context.Background()
	var logs syncBuffer
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var n atomic.Int64
	for _, phase := range []string{"miss", "hit", "hit after reopen"} {
		s := openStore(t, dir, pcache.WithLogger(logger))
		str := pcache.MustWrap(s, "fidelity/binary-string", func(context.Context, int) (string, error) { n.Add(1); return bin, nil })
		if got := mustCall(t, str, ctx, 1); got != bin {
			t.Fatalf("%s: string %q, want %q", phase, got, bin)
		}
		b := bin
		want := doc{S: bin, L: []string{bin, "ok"}, M: map[string]string{bin: bin}, A: bin, P: &b, OK: "ok"}
		d := pcache.MustWrap(s, "fidelity/binary-doc", func(context.Context, int) (doc, error) { n.Add(1); return want, nil })
		if got := mustCall(t, d, ctx, 1); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %#v, want %#v", phase, got, want)
		}
		if st := s.Stats(); st.StoreErrors != 0 {
			t.Fatalf("%s: %+v", phase, st)
		}
		s.Close()
	}
	if n.Load() != 2 {
		t.Fatalf("computed %d times; want each function once", n.Load())
	}
	if logs.String() != "" {
		t.Fatalf("logged:\n%s", logs.String())
	}
}

// TestBigIntResults: big.Int and *big.Int results are stored (small,
// beyond 64 bits, negative, zero, nil) and come back equal.
func TestBigIntResults(t *testing.T) {
	t.Parallel()
	type withBig struct {
		N    *mathbig.Int
		V    mathbig.Int
		List []*mathbig.Int
	}
	huge, _ := new(mathbig.Int).SetString("-123456789012345678901234567890123456789", 10)
	values := []*mathbig.Int{mathbig.NewInt(5), huge, new(mathbig.Int).Neg(huge), new(mathbig.Int), mathbig.NewInt(-1), nil}
	ctx := context.Background()
	dir := t.TempDir()
	for _, phase := range []string{"miss", "hit", "hit after reopen"} {
		s := openStore(t, dir)
		ptr, err := pcache.Wrap(s, "fidelity/bigptr", func(_ context.Context, i int) (*mathbig.Int, error) { return values[i], nil })
		if err != nil {
			t.Fatalf("Wrap of a *big.Int result: %v", err)
		}
		val, err := pcache.Wrap(s, "fidelity/bigval", func(_ context.Context, i int) (mathbig.Int, error) {
			if values[i] == nil {
				return mathbig.Int{}, nil
			}
			return *new(mathbig.Int).Set(values[i]), nil
		})
		if err != nil {
			t.Fatalf("Wrap of a big.Int result: %v", err)
		}
		st, err := pcache.Wrap(s, "fidelity/bigstruct", func(_ context.Context, i int) (withBig, error) {
			w := withBig{N: values[i], List: values}
			if values[i] != nil {
				w.V.Set(values[i])
			}
			return w, nil
		})
		if err != nil {
			t.Fatalf("Wrap of a struct holding big.Int: %v", err)
		}
		for i, want := range values {
			got := mustCall(t, ptr, ctx, i)
			if (got == nil) != (want == nil) || (want != nil && got.Cmp(want) != 0) {
				t.Errorf("%s: *big.Int %d = %v, want %v", phase, i, got, want)
			}
			v := mustCall(t, val, ctx, i)
			if w := new(mathbig.Int); want != nil && v.Cmp(want) != 0 || want == nil && v.Cmp(w) != 0 {
				t.Errorf("%s: big.Int %d = %v, want %v", phase, i, &v, want)
			}
			sv := mustCall(t, st, ctx, i)
			if (sv.N == nil) != (want == nil) || want != nil && (sv.N.Cmp(want) != 0 || sv.V.Cmp(want) != 0) || len(sv.List) != len(values) || sv.List[1].Cmp(huge) != 0 || sv.List[5] != nil {
				t.Errorf("%s: struct %d = %+v", phase, i, sv)
			}
		}
		if st := s.Stats(); st.StoreErrors != 0 {
			t.Fatalf("%s: %+v", phase, st)
		}
		s.Close()
	}
}

// TestRefusalsNeverAdviseChangingTheStandardLibrary: a result type the codec
// cannot store is refused, and when the culprit is a standard-library type
// the error does not advise adding methods to it.
func TestRefusalsNeverAdviseChangingTheStandardLibrary(t *testing.T) {
	t.Parallel()
	type withFloat struct{ F *mathbig.Float }
	type withRat struct{ R mathbig.Rat }
	type withBuilder struct{ Loc strings.Builder }
	s := openStore(t, t.TempDir())
	for _, tc := range []struct {
		wrap func() error
		want string // named in the error
	}{
		{func() error {
			_, err := pcache.Wrap(s, "fidelity/r1", func(context.Context, int) (withFloat, error) { return withFloat{}, nil })
			return err
		}, "big.Float"},
		{func() error {
			_, err := pcache.Wrap(s, "fidelity/r2", func(context.Context, int) (withRat, error) { return withRat{}, nil })
			return err
		}, "big.Rat"},
		{func() error {
			_, err := pcache.Wrap(s, "fidelity/r3", func(context.Context, int) (*mathbig.Float, error) { return nil, nil })
			return err
		}, "big.Float"},
		{func() error {
			_, err := pcache.Wrap(s, "fidelity/r4", func(context.Context, int) (withBuilder, error) { return withBuilder{}, nil })
			return err
		}, "strings.Builder"},
	} {
		err := tc.wrap()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Wrap: %v, want an error naming %s", err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "give ") || strings.Contains(err.Error(), "methods") && !strings.Contains(err.Error(), "a type of your own") {
			t.Errorf("the error advises changing a standard-library type: %v", err)
		}
		if strings.Count(err.Error(), "pcache:") != 1 {
			t.Errorf("error %q: want one pcache: prefix", err)
		}
	}
	// A type of the program's own still gets the advice to add methods.
	_, err := pcache.Wrap(s, "fidelity/r5", func(context.Context, int) (withUnexported, error) { return withUnexported{}, nil })
	if err == nil || !strings.Contains(err.Error(), "give pcache_test.withUnexported MarshalCBOR/UnmarshalCBOR methods") {
		t.Errorf("a program's own type: %v", err)
	}
}

// TestJSONDocumentsInAny: a JSON document decoded into any (or
// map[string]any) comes back, on the miss and on hits, deeply equal to what
// the function computed and encoding to the same JSON.
func TestJSONDocumentsInAny(t *testing.T) {
	t.Parallel()
	const src = `{"name":"x","n":1.5,"ok":true,"none":null,"tags":["a","b",{"deep":{"k":[1,{"z":"y"}]}}],"nested":{"a":{"b":{}},"list":[]},"empty":{}}`
	compute := func() any {
		var v any
		if err := json.Unmarshal([]byte(src), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	type envelope struct {
		Doc  any
		Docs []map[string]any
		ByID map[string]any
	}
	computeEnv := func() envelope {
		m := compute().(map[string]any)
		return envelope{Doc: compute(), Docs: []map[string]any{m}, ByID: map[string]any{"1": compute()}}
	}
	wantJSON, _ := json.Marshal(compute())
	ctx := context.Background()
	dir := t.TempDir()
	for _, phase := range []string{"miss", "hit", "hit after reopen"} {
		s := openStore(t, dir)
		f := pcache.MustWrap(s, "fidelity/json-any", func(context.Context, int) (any, error) { return compute(), nil })
		m := pcache.MustWrap(s, "fidelity/json-map", func(context.Context, int) (map[string]any, error) {
			return compute().(map[string]any), nil
		})
		e := pcache.MustWrap(s, "fidelity/json-envelope", func(context.Context, int) (envelope, error) { return computeEnv(), nil })
		for what, got := range map[string]any{"any": mustCall(t, f, ctx, 1), "map[string]any": mustCall(t, m, ctx, 1)} {
			if !reflect.DeepEqual(got, compute()) {
				t.Errorf("%s %s: %#v\nwant %#v", phase, what, got, compute())
			}
			b, err := json.Marshal(got)
			if err != nil || string(b) != string(wantJSON) {
				t.Errorf("%s %s: json %s (%v), want %s", phase, what, b, err, wantJSON)
			}
		}
		if got := mustCall(t, e, ctx, 1); !reflect.DeepEqual(got, computeEnv()) {
			t.Errorf("%s envelope: %#v\nwant %#v", phase, got, computeEnv())
		}
		s.Close()
	}
	// A map with keys that are not all text stays map[any]any.
	s := openStore(t, t.TempDir())
	f := pcache.MustWrap(s, "fidelity/mixed-keys", func(context.Context, int) (any, error) {
		return map[any]any{"a": "x", uint64(2): "y"}, nil
	})
	for range 2 {
		if got := mustCall(t, f, ctx, 1); !reflect.DeepEqual(got, map[any]any{"a": "x", uint64(2): "y"}) {
			t.Errorf("mixed keys: %#v", got)
		}
	}
}
