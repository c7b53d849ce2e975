package pcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// callRecover calls f and returns what it panicked with, if it did.
func callRecover(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// A panic reaches its caller unchanged, releases the key (waiters and later
// calls compute themselves), and caches nothing.
func TestPanicReleasesTheKey(t *testing.T) {
	s := openStore(t, t.TempDir())
	var n atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	f := pcache.MustWrap(s, "t/panic", func(_ context.Context, x int) (int, error) {
		if n.Add(1) == 1 {
			close(started)
			<-release
			panic("boom")
		}
		return x * 2, nil
	})
	ctx := context.Background()
	leader := make(chan any, 1)
	go func() { leader <- callRecover(func() { f.Call(ctx, 21) }) }()
	<-started
	// Waiters that arrive while the leader runs. (Counting goroutines
	// instead would hang if another test's background goroutine ended
	// meanwhile.)
	var wg sync.WaitGroup
	results := make([]int, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = f.Call(ctx, 21) })
	}
	for pcache.Waiters(f, 21) < len(results) {
		runtime.Gosched()
	}
	close(release)
	if p := <-leader; p != "boom" {
		t.Fatalf("the leader's caller got %v, want the panic value \"boom\"", p)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("waiters of a panicking computation hang")
	}
	for i := range results {
		if errs[i] != nil || results[i] != 42 {
			t.Errorf("waiter %d: %d, %v; want 42", i, results[i], errs[i])
		}
	}
	if got := n.Load(); got != 2 {
		t.Errorf("%d computations, want 2 (the panic, then one for all the waiters)", got)
	}
	if got := mustCall(t, f, ctx, 21); got != 42 || n.Load() != 2 {
		t.Errorf("after the panic: %d with %d computations; want a hit", got, n.Load())
	}

	// Every call of a key whose function always panics gets the panic: the
	// key is never wedged.
	g := pcache.MustWrap(s, "t/panic-always", func(_ context.Context, x int) (int, error) { panic(fmt.Sprint("boom ", x)) })
	for i := 0; i < 3; i++ {
		if p := callRecover(func() { g.Call(ctx, 1) }); p != "boom 1" {
			t.Fatalf("call %d: panic %v", i, p)
		}
	}
	if ok, _ := g.Contains(ctx, 1); ok {
		t.Fatal("a panic cached something")
	}

	b := pcache.MustWrapBatch(s, "t/panic-batch", func(_ context.Context, xs []int) ([]int, error) {
		if xs[0] == 0 {
			panic("batch boom")
		}
		return xs, nil
	})
	if p := callRecover(func() { b.Call(ctx, []int{0, 1}) }); p != "batch boom" {
		t.Fatalf("batch panic: %v", p)
	}
	if ok, _ := pcache.MustWrap(s, "t/panic-batch", func(_ context.Context, x int) (int, error) { return x, nil }).Contains(ctx, 1); ok {
		t.Fatal("a panicking batch cached an element")
	}
}

type metricsV1 struct{ Acc float64 }
type metricsV2 struct{ Accuracy, F1 float64 }
type metricsV3 struct{ Acc, F1 float64 }

// A result type changed between builds is a miss, never a decode into the
// new type; entries of two result types under one name coexist.
func TestResultTypeChangeIsAMiss(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	v1 := pcache.MustWrap(s, "t/metrics", func(context.Context, int) (metricsV1, error) { return metricsV1{0.9}, nil })
	mustCall(t, v1, ctx, 1)
	var n2, n3, nf atomic.Int64
	v2 := pcache.MustWrap(s, "t/metrics", func(context.Context, int) (metricsV2, error) { n2.Add(1); return metricsV2{0.8, 0.7}, nil })
	v3 := pcache.MustWrap(s, "t/metrics", func(context.Context, int) (metricsV3, error) { n3.Add(1); return metricsV3{0.6, 0.5}, nil })
	vf := pcache.MustWrap(s, "t/metrics", func(context.Context, int) (float64, error) { nf.Add(1); return 1.5, nil })
	for round := 0; round < 3; round++ {
		if got := mustCall(t, v2, ctx, 1); got != (metricsV2{0.8, 0.7}) {
			t.Fatalf("v2 = %+v", got)
		}
		if got := mustCall(t, v3, ctx, 1); got != (metricsV3{0.6, 0.5}) {
			t.Fatalf("v3 = %+v", got)
		}
		if got := mustCall(t, vf, ctx, 1); got != 1.5 {
			t.Fatalf("float = %v", got)
		}
		if got := mustCall(t, v1, ctx, 1); got != (metricsV1{0.9}) {
			t.Fatalf("v1 = %+v", got)
		}
	}
	if n2.Load() != 1 || n3.Load() != 1 || nf.Load() != 1 {
		t.Fatalf("computations %d %d %d, want 1 each: types under one name must not evict each other", n2.Load(), n3.Load(), nf.Load())
	}
	if st := v1.Stats(); st.Hits != 3 || st.Misses != 1 || st.Corrupt != 0 {
		t.Fatalf("v1 stats %+v", st)
	}
	kInt := pcache.MustWrap(s, "t/int-then-float", func(context.Context, int) (int, error) { return 7, nil })
	mustCall(t, kInt, ctx, 0)
	kFloat := pcache.MustWrap(s, "t/int-then-float", func(context.Context, int) (float64, error) { return 7.5, nil })
	if got := mustCall(t, kFloat, ctx, 0); got != 7.5 {
		t.Fatalf("int entry served as float64: %v", got)
	}
}

type withTime struct {
	At  time.Time
	Any map[string]any
}

// A miss returns exactly what every later hit returns.
func TestMissAndHitReturnTheSame(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	loc := time.FixedZone("CEST", 2*3600)
	fn := func(context.Context, int) (withTime, error) {
		return withTime{At: time.Date(2024, 5, 1, 12, 0, 0, 5, loc), Any: map[string]any{"n": 1, "s": []string{"a"}, "f": 2.5}}, nil
	}
	s := openStore(t, dir)
	f := pcache.MustWrap(s, "t/fidelity", fn)
	miss := mustCall(t, f, ctx, 1)
	hit := mustCall(t, f, ctx, 1)
	s2 := openStore(t, dir)
	cold := mustCall(t, pcache.MustWrap(s2, "t/fidelity", fn), ctx, 1)
	if !reflect.DeepEqual(miss, hit) || !reflect.DeepEqual(hit, cold) {
		t.Fatalf("miss %#v\nhit  %#v\ncold %#v", miss, hit, cold)
	}
	if _, ok := miss.Any["n"].(uint64); !ok {
		t.Errorf("an int inside any comes back as %T, want uint64 (documented)", miss.Any["n"])
	}
	if !miss.At.Equal(time.Date(2024, 5, 1, 12, 0, 0, 5, loc)) {
		t.Errorf("time %v", miss.At)
	}
	m := pcache.MustWrap(s, "t/fidelity-map", func(context.Context, int) (map[string]any, error) {
		return map[string]any{"n": 1}, nil
	})
	if a, b := mustCall(t, m, ctx, 1), mustCall(t, m, ctx, 1); !reflect.DeepEqual(a, b) {
		t.Fatalf("map miss %#v, hit %#v", a, b)
	}
}

type withChan struct {
	Name string
	Done chan int
}
type withFunc struct{ Inner struct{ F func() } }
type withComplex struct{ Z []complex128 }
type withUnexported struct {
	A int
	b int
}
type withSkipped struct {
	A    int
	Done chan int `cbor:"-"`
}
type withReader struct {
	R interface{ Read([]byte) (int, error) }
}

// Result types the codec cannot store and decode back are refused by Wrap,
// naming the field, before any work is done.
func TestWrapRefusesUnstorableResults(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	for _, tc := range []struct {
		wrap func() error
		want string
	}{
		{func() error {
			_, err := pcache.Wrap(s, "t/r1", func(context.Context, int) (withChan, error) { return withChan{}, nil })
			return err
		}, "withChan.Done"},
		{func() error {
			_, err := pcache.Wrap(s, "t/r2", func(context.Context, int) (withFunc, error) { return withFunc{}, nil })
			return err
		}, "Inner.F"},
		{func() error {
			_, err := pcache.Wrap(s, "t/r3", func(context.Context, int) (withComplex, error) { return withComplex{}, nil })
			return err
		}, "Z[*]"},
		{func() error {
			_, err := pcache.Wrap(s, "t/r4", func(context.Context, int) (withUnexported, error) { return withUnexported{}, nil })
			return err
		}, "unexported field b"},
		{func() error {
			_, err := pcache.Wrap(s, "t/r5", func(context.Context, int) (withReader, error) { return withReader{}, nil })
			return err
		}, "withReader.R"},
		{func() error {
			_, err := pcache.WrapBatch(s, "t/r6", func(context.Context, []int) ([]chan int, error) { return nil, nil })
			return err
		}, "chan"},
	} {
		err := tc.wrap()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Wrap: %v, want an error naming %q", err, tc.want)
		}
	}
	if _, err := pcache.Wrap(s, "t/ok", func(context.Context, int) (withSkipped, error) { return withSkipped{}, nil }); err != nil {
		t.Errorf("a chan field tagged cbor:\"-\" is never stored: %v", err)
	}
}

type ptrArgs struct {
	X       int
	Verbose bool   `pcache:"-"`
	Out     string `pcache:",out"`
}

// A *Struct argument gets every tag and rule a struct gets, out files
// included; a nil pointer is a clear error.
func TestPointerArguments(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	s := openStore(t, dir)
	var n atomic.Int64
	f := pcache.MustWrap(s, "t/ptr", func(_ context.Context, a *ptrArgs) (int, error) {
		n.Add(1)
		return a.X, os.WriteFile(a.Out, []byte(fmt.Sprint("x=", a.X)), 0o644)
	})
	ctx := context.Background()
	p1, p2 := filepath.Join(out, "1"), filepath.Join(out, "2")
	mustCall(t, f, ctx, &ptrArgs{X: 3, Out: p1})
	if got := mustCall(t, f, ctx, &ptrArgs{X: 3, Verbose: true, Out: p2}); got != 3 || n.Load() != 1 {
		t.Fatalf("hit through a pointer: %d after %d computations", got, n.Load())
	}
	if b, err := os.ReadFile(p2); err != nil || string(b) != "x=3" {
		t.Fatalf("out file through a pointer argument not restored: %q, %v", b, err)
	}
	if _, err := f.Call(ctx, nil); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Fatalf("nil pointer argument: %v", err)
	}
	// Keys through a pointer are the keys of the struct.
	g := pcache.MustWrap(s, "t/ptr", func(_ context.Context, a ptrArgs) (int, error) { n.Add(1); return a.X, nil })
	k1, _ := f.Key(&ptrArgs{X: 3})
	k2, _ := g.Key(ptrArgs{X: 3})
	if k1 != k2 {
		t.Fatalf("pointer and struct keys differ: %s %s", k1, k2)
	}
}

// Every element's out path ends up holding its content, repeated keys
// included.
func TestBatchOutFilesRepeatedKeys(t *testing.T) {
	t.Parallel()
	dir, out := t.TempDir(), t.TempDir()
	s := openStore(t, dir)
	type args struct {
		X   int
		Out string `pcache:",out"`
	}
	var calls atomic.Int64
	f := pcache.MustWrapBatch(s, "t/batch-outs", func(_ context.Context, as []args) ([]int, error) {
		calls.Add(1)
		for _, a := range as {
			if err := os.WriteFile(a.Out, []byte(fmt.Sprint("x=", a.X)), 0o644); err != nil {
				return nil, err
			}
		}
		r := make([]int, len(as))
		for i, a := range as {
			r[i] = a.X
		}
		return r, nil
	})
	ctx := context.Background()
	p := func(name string) string { return filepath.Join(out, name) }
	in := []args{{1, p("a")}, {1, p("b")}, {2, p("c")}, {1, p("d")}}
	got, err := f.Call(ctx, in)
	if err != nil || !reflect.DeepEqual(got, []int{1, 1, 2, 1}) {
		t.Fatalf("batch = %v, %v", got, err)
	}
	// A second batch, all hits, with repeated keys and new paths.
	in2 := []args{{2, p("e")}, {1, p("f")}, {2, p("g")}}
	if got, err := f.Call(ctx, in2); err != nil || !reflect.DeepEqual(got, []int{2, 1, 2}) || calls.Load() != 1 {
		t.Fatalf("second batch = %v, %v after %d calls", got, err, calls.Load())
	}
	for _, a := range append(in, in2...) {
		if b, err := os.ReadFile(a.Out); err != nil || string(b) != fmt.Sprint("x=", a.X) {
			t.Errorf("%s holds %q, %v; want x=%d", a.Out, b, err, a.X)
		}
	}
}

// The one name rule: Wrap refuses what import refuses, names that collide
// by case within one cache, and Windows device names.
func TestNameRule(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := context.Background()
	ok := pcache.MustWrap(s, "ds/train", func(_ context.Context, x int) (int, error) { return x, nil })
	mustCall(t, ok, ctx, 1)
	for _, name := range []string{"my func", "ds/Train", "DS/train", "ds/con", "a/../b", "nul.txt"} {
		_, err := pcache.Wrap(s, name, func(_ context.Context, x int) (int, error) { return x, nil })
		if !errors.Is(err, pcache.ErrBadName) {
			t.Errorf("Wrap(%q) = %v, want ErrBadName", name, err)
		}
	}
	// Another Store on the same cache sees the stored name.
	s2 := openStore(t, dir)
	if _, err := pcache.Wrap(s2, "ds/TRAIN", func(_ context.Context, x int) (int, error) { return x, nil }); !errors.Is(err, pcache.ErrBadName) {
		t.Errorf("a case collision with a stored function: %v", err)
	}
}

// DropIfEqual with a value of another numeric type than the field is
// converted, so an added float64 field with default 0 keeps old entries.
func TestDropIfEqualConvertsNumbers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	type v1 struct{ N int }
	type v2 struct {
		N         int
		Threshold float64
	}
	var n atomic.Int64
	old := pcache.MustWrap(s, "t/drop", func(_ context.Context, a v1) (int, error) { n.Add(1); return a.N, nil })
	mustCall(t, old, ctx, v1{N: 5})
	cur := pcache.MustWrap(s, "t/drop", func(_ context.Context, a v2) (int, error) { n.Add(1); return a.N, nil },
		pcache.DropIfEqual("Threshold", 0))
	if got := mustCall(t, cur, ctx, v2{N: 5}); got != 5 || n.Load() != 1 {
		t.Fatalf("old entry not found through DropIfEqual(\"Threshold\", 0): %d computations", n.Load())
	}
	mustCall(t, cur, ctx, v2{N: 5, Threshold: 0.5})
	if n.Load() != 2 {
		t.Fatalf("a Threshold other than 0 must be keyed: %d computations", n.Load())
	}
	_, err := pcache.Wrap(s, "t/drop2", func(_ context.Context, a v2) (int, error) { return 0, nil }, pcache.DropIfEqual("N", 1.5))
	if err == nil || !strings.Contains(err.Error(), "N") || !strings.Contains(err.Error(), "float64") || !strings.Contains(err.Error(), "int") {
		t.Fatalf("DropIfEqual(\"N\", 1.5) on an int field: %v", err)
	}
}

// A drop rule and a mapping rule on one argument compose: left out while the
// drop rule holds, else keyed by the mapped value.
func TestDropRuleWithMapper(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	type args struct {
		Path string
		Mode string
	}
	var n atomic.Int64
	f, err := pcache.Wrap(s, "t/drop-map", func(_ context.Context, a args) (string, error) { n.Add(1); return a.Path, nil },
		pcache.DropIfEqual("Mode", "default"),
		pcache.MapArg("Mode", func(v any) (any, error) { return strings.ToLower(v.(string)), nil }))
	if err != nil {
		t.Fatalf("a drop rule and a mapper on one argument: %v", err)
	}
	mustCall(t, f, ctx, args{Path: "p", Mode: "default"})
	mustCall(t, f, ctx, args{Path: "p"}) // Mode "" is keyed (mapped to "")
	mustCall(t, f, ctx, args{Path: "p", Mode: "FAST"})
	mustCall(t, f, ctx, args{Path: "p", Mode: "fast"}) // maps to the same key
	if n.Load() != 3 {
		t.Fatalf("%d computations, want 3", n.Load())
	}
	k1, _ := f.Key(args{Path: "p", Mode: "default"})
	type bare struct{ Path string }
	g := pcache.MustWrap(s, "t/drop-map", func(_ context.Context, a bare) (string, error) { return a.Path, nil })
	if k2, _ := g.Key(bare{Path: "p"}); k1 != k2 {
		t.Fatal("a dropped argument must key like an absent one")
	}
}

// A result that cannot be stored is still returned: a Store closed during
// the call.
func TestStoreFailureReturnsTheResult(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, strict := range []bool{false, true} {
		var logged bytes.Buffer
		opts := []pcache.StoreOption{pcache.WithLogger(slog.New(slog.NewTextHandler(&logged, nil)))}
		if strict {
			opts = append(opts, pcache.ReturnStoreErrors())
		}
		s := openStore(t, t.TempDir(), opts...)
		f := pcache.MustWrap(s, "t/closed-mid-call", func(_ context.Context, x int) (int, error) {
			s.Close() // the Store goes away while the function runs
			return x + 1, nil
		})
		got, err := f.Call(ctx, 1)
		if got != 2 {
			t.Fatalf("strict=%v: result %d, want 2", strict, got)
		}
		if strict != (err != nil) || (strict && !errors.Is(err, pcache.ErrClosed)) {
			t.Fatalf("strict=%v: err %v", strict, err)
		}
		if st := f.Stats(); st.StoreErrors != 1 || st.Stores != 0 {
			t.Fatalf("strict=%v: stats %+v", strict, st)
		}
		if !strings.Contains(logged.String(), "not stored") {
			t.Fatalf("strict=%v: nothing logged: %s", strict, logged.String())
		}
	}
}

// Errors read once: one "pcache:" prefix, and the function named.
func TestErrorsReadOnce(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	f := pcache.MustWrap(s, "ds/train", func(_ context.Context, x int) (int, error) { return x, nil })
	_, err := f.Call(pcache.ErrorOnMiss(context.Background()), 1)
	if !errors.Is(err, pcache.ErrCacheMiss) || err.Error() != "pcache: ds/train: cache miss" {
		t.Fatalf("miss error %q", err)
	}
	_, err = pcache.Wrap(s, "my func", func(_ context.Context, x int) (int, error) { return x, nil })
	if err == nil || strings.Count(err.Error(), "pcache:") != 1 {
		t.Fatalf("name error %q", err)
	}
}

// Open keeps a marker, adds it to caches written before it, and refuses a
// directory that holds other files.
func TestOpenMarker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openStore(t, dir)
	if _, err := os.Stat(filepath.Join(dir, "pcache.json")); err != nil {
		t.Fatalf("no marker: %v", err)
	}
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "notes.txt"), []byte("mine"), 0o644)
	os.MkdirAll(filepath.Join(home, "tmp"), 0o755)
	if _, err := pcache.Open(home); !errors.Is(err, pcache.ErrNotCache) {
		t.Fatalf("Open of a directory with other files: %v, want ErrNotCache", err)
	}
	if ents, _ := os.ReadDir(home); len(ents) != 2 {
		t.Fatalf("Open created files in a directory that is not a cache: %v", ents)
	}
	// A cache from before the marker (objects/ and manifests/, no marker).
	old := t.TempDir()
	os.MkdirAll(filepath.Join(old, "manifests"), 0o755)
	openStore(t, old)
	if _, err := os.Stat(filepath.Join(old, "pcache.json")); err != nil {
		t.Fatalf("marker not added to an old cache: %v", err)
	}
}

// TestNewCacheIsPrivate: a cache directory Open creates is its owner's
// alone (arguments sit there in plain text); a directory made beforehand
// with a group's access keeps its mode.
func TestNewCacheIsPrivate(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "a", "cache")
	s := openStore(t, dir)
	s.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("new cache directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	team := filepath.Join(base, "team")
	if err := os.Mkdir(team, 0o770); err != nil {
		t.Fatal(err)
	}
	os.Chmod(team, 0o2770|os.ModeSetgid)
	before, _ := os.Stat(team)
	s = openStore(t, team)
	s.Close()
	if fi, err := os.Stat(team); err != nil || fi.Mode() != before.Mode() {
		t.Fatalf("team cache directory: %v, %v; want its mode %v kept", fi.Mode(), err, before.Mode())
	}
}

// TestPlantedDirectoryLinkMakesReadOnly: a cache whose tmp/ (or objects/,
// locks/, ...) is a link to a directory elsewhere is used read-only: calls
// compute, nothing is written through the link, and the problem is
// logged at error level.
func TestPlantedDirectoryLinkMakesReadOnly(t *testing.T) {
	t.Parallel()
	for _, sub := range []string{"tmp", "objects", "locks", "manifests"} {
		t.Run(sub, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "cache")
			s := openStore(t, dir)
			f := pcache.MustWrap(s, "planted/f", func(_ context.Context, x int) (int, error) { return x + 1, nil })
			if _, err := f.Call(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			s.Close()
			outside := filepath.Join(base, "victim")
			os.Mkdir(outside, 0o700)
			os.RemoveAll(filepath.Join(dir, sub))
			if err := os.Symlink(outside, filepath.Join(dir, sub)); err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			s = openStore(t, dir, pcache.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			f = pcache.MustWrap(s, "planted/f", func(_ context.Context, x int) (int, error) { return x + 1, nil })
			for x := range 5 {
				if v, err := f.Call(context.Background(), x); err != nil || v != x+1 {
					t.Fatalf("call %d: %d, %v", x, v, err)
				}
			}
			s.Close()
			if es, _ := os.ReadDir(outside); len(es) != 0 {
				t.Fatalf("%d files were made in the directory the planted %s/ points at", len(es), sub)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), sub+" is a symbolic link") {
				t.Fatalf("not logged at error level, naming %s:\n%s", sub, logs.String())
			}
		})
	}
}

// TestOutFileRecoveryReadsOnlyPassedPaths: when an out file's object is
// lost, its contents are recovered only from a path a caller of this Store
// passed, never from a path a record merely names (a forged record could
// otherwise make the cache read, and so reveal, any file of the caller's).
func TestOutFileRecoveryReadsOnlyPassedPaths(t *testing.T) {
	t.Parallel()
	type args struct {
		X   int
		Out string `pcache:",out"`
	}
	base := t.TempDir()
	dir := filepath.Join(base, "cache")
	body := strings.Repeat("big out file ", 10000) // a loose object
	var computed int
	fn := func(_ context.Context, a args) (int, error) {
		computed++
		return a.X, os.WriteFile(a.Out, []byte(body), 0o644)
	}
	s := openStore(t, dir)
	f := pcache.MustWrap(s, "trust/outs", fn)
	first := filepath.Join(base, "first")
	if _, err := f.Call(context.Background(), args{X: 1, Out: first}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	loose, _ := filepath.Glob(filepath.Join(dir, "objects", "[0-9a-f][0-9a-f]", "*"))
	if len(loose) == 0 {
		t.Fatal("no loose object to lose")
	}
	for _, p := range loose {
		os.Remove(p)
	}

	s = openStore(t, dir)
	f = pcache.MustWrap(s, "trust/outs", fn)
	if _, err := f.Call(context.Background(), args{X: 1, Out: filepath.Join(base, "second")}); err != nil {
		t.Fatal(err)
	}
	if computed != 2 {
		t.Fatalf("computed %d times: the lost contents were recovered from a path this process never passed", computed)
	}
	s.Close()
}

// TestPlantedMarkerNeverHangsOpen: a FIFO or a giant sparse file at
// pcache.json neither hangs nor exhausts Open; calls work.
func TestPlantedMarkerNeverHangsOpen(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"fifo", "giant"} {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			openStore(t, dir).Close()
			marker := filepath.Join(dir, "pcache.json")
			os.Remove(marker)
			if kind == "fifo" {
				if err := testutil.Mkfifo(marker); err != nil {
					t.Skip("no FIFOs here:", err)
				}
			} else {
				f, _ := os.Create(marker)
				f.Truncate(1 << 40)
				f.Close()
			}
			s := openStore(t, dir, pcache.WithLogger(nil))
			f := pcache.MustWrap(s, "planted/marker", func(_ context.Context, x int) (int, error) { return x * 3, nil })
			if v, err := f.Call(context.Background(), 5); err != nil || v != 15 {
				t.Fatalf("call: %d, %v", v, err)
			}
		})
	}
}
