package pcache_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pcache/pcache"
)

type xyz struct{ X, Y, Z int }

// counted wraps an add function that counts its calls.
func counted(t *testing.T, s *pcache.Store, name string, opts ...pcache.Option) (*pcache.Func[xyz, int], *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	f, err := pcache.Wrap(s, name, func(_ context.Context, a xyz) (int, error) {
		n.Add(1)
		return a.X*100 + a.Y*10 + a.Z, nil
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f, &n
}

func openStore(t *testing.T, dir string, opts ...pcache.StoreOption) *pcache.Store {
	t.Helper()
	s, err := pcache.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCall[A, R any](t *testing.T, f *pcache.Func[A, R], ctx context.Context, a A) R {
	t.Helper()
	r, err := f.Call(ctx, a)
	if err != nil {
		t.Fatalf("Call(%+v): %v", a, err)
	}
	return r
}

func TestAliasingComputesOnce(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	f, n := counted(t, s, "t/alias")
	ctx := context.Background()
	var assigned xyz
	assigned.Z, assigned.X, assigned.Y = 3, 2, 2
	for _, a := range []xyz{{X: 2, Y: 2, Z: 3}, {2, 2, 3}, assigned} {
		if got := mustCall(t, f, ctx, a); got != 223 {
			t.Fatalf("got %d, want 223", got)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("computed %d times, want 1", n.Load())
	}
	mustCall(t, f, ctx, xyz{X: 2, Y: 2, Z: 4})
	if n.Load() != 2 {
		t.Fatalf("a different value: computed %d times, want 2", n.Load())
	}
}

func TestSliceArgumentIsPartOfKey(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	var n atomic.Int64
	sum := pcache.MustWrap(s, "t/sum", func(_ context.Context, a struct{ Xs []int }) (int, error) {
		n.Add(1)
		t := 0
		for _, x := range a.Xs {
			t += x
		}
		return t, nil
	})
	ctx := context.Background()
	cases := []struct {
		xs   []int
		want int
		n    int64
	}{
		{[]int{1, 2, 3}, 6, 1},
		{[]int{1, 2, 3}, 6, 1},
		{[]int{3, 2, 1}, 6, 2},
		{[]int{1, 2}, 3, 3},
	}
	for _, c := range cases {
		if got := mustCall(t, sum, ctx, struct{ Xs []int }{c.xs}); got != c.want || n.Load() != c.n {
			t.Fatalf("sum(%v) = %d after %d computations, want %d after %d", c.xs, got, n.Load(), c.want, c.n)
		}
	}
}

func TestSurvivesReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s1, err := pcache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	f1, n1 := counted(t, s1, "t/reopen")
	mustCall(t, f1, ctx, xyz{1, 2, 3})
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	// A call on a closed Store computes without the cache: never a failure.
	if got, err := f1.Call(ctx, xyz{1, 2, 3}); err != nil || got != 123 {
		t.Fatalf("call on closed store: %d, %v; want 123, nil", got, err)
	}
	s2 := openStore(t, dir)
	f2, n2 := counted(t, s2, "t/reopen")
	if got := mustCall(t, f2, ctx, xyz{1, 2, 3}); got != 123 {
		t.Fatalf("got %d", got)
	}
	if n1.Load() != 2 || n2.Load() != 0 {
		t.Fatalf("computations: first store %d, second %d; want 2, 0", n1.Load(), n2.Load())
	}
	if _, err := f2.Contains(ctx, xyz{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if _, err := f2.Contains(ctx, xyz{1, 2, 3}); !errors.Is(err, pcache.ErrClosed) {
		t.Fatalf("Contains on a closed store: %v, want ErrClosed", err)
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	f, n := counted(t, s, "t/modes")
	ctx := context.Background()

	if _, err := f.Call(pcache.ErrorOnMiss(ctx), xyz{1, 1, 1}); !errors.Is(err, pcache.ErrCacheMiss) {
		t.Fatalf("ErrorOnMiss on a miss: %v, want ErrCacheMiss", err)
	}
	if ok, err := f.Contains(ctx, xyz{1, 1, 1}); err != nil || ok {
		t.Fatalf("Contains before: %v %v", ok, err)
	}
	if n.Load() != 0 {
		t.Fatal("ErrorOnMiss or Contains computed")
	}
	mustCall(t, f, ctx, xyz{1, 1, 1})
	if ok, err := f.Contains(ctx, xyz{1, 1, 1}); err != nil || !ok {
		t.Fatalf("Contains after: %v %v", ok, err)
	}
	if got := mustCall(t, f, pcache.ErrorOnMiss(ctx), xyz{1, 1, 1}); got != 111 {
		t.Fatalf("ErrorOnMiss on a hit: %d", got)
	}
	for range 3 {
		mustCall(t, f, pcache.NoCache(ctx), xyz{1, 1, 1})
		mustCall(t, f, pcache.NoCache(ctx), xyz{7, 7, 7})
	}
	if n.Load() != 7 {
		t.Fatalf("computed %d times, want 1 + 6 under NoCache", n.Load())
	}
	if ok, _ := f.Contains(ctx, xyz{7, 7, 7}); ok {
		t.Fatal("NoCache stored a result")
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	var n atomic.Int64
	boom := errors.New("boom")
	f := pcache.MustWrap(s, "t/errors", func(_ context.Context, x int) (int, error) {
		if n.Add(1) == 1 {
			return 0, boom
		}
		return x * 2, nil
	})
	ctx := context.Background()
	if _, err := f.Call(ctx, 4); !errors.Is(err, boom) {
		t.Fatalf("first call: %v, want boom", err)
	}
	if got := mustCall(t, f, ctx, 4); got != 8 || n.Load() != 2 {
		t.Fatalf("second call: %d after %d computations", got, n.Load())
	}
	if got := mustCall(t, f, ctx, 4); got != 8 || n.Load() != 2 {
		t.Fatalf("third call: %d after %d computations", got, n.Load())
	}
}

func objectFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestIdenticalResultsShareOneObject(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, pcache.PackLimit(0)) // objects as files, to count them
	f := pcache.MustWrap(s, "t/dedupe", func(_ context.Context, x int) (string, error) {
		return strings.Repeat("same result ", 10), nil
	})
	for x := range 5 {
		mustCall(t, f, context.Background(), x)
	}
	if got := objectFiles(t, dir); len(got) != 1 {
		t.Fatalf("5 identical results stored as %d objects: %v", len(got), got)
	}
}

func TestDamagedObjectIsRecomputed(t *testing.T) {
	t.Parallel()
	damage := map[string]func(string) error{
		"delete": os.Remove,
		"flip": func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x40
			os.Chmod(p, 0o644)
			return os.WriteFile(p, b, 0o444)
		},
		"truncate": func(p string) error {
			os.Chmod(p, 0o644)
			return os.Truncate(p, 1) // results here are 3 bytes
		},
	}
	for name, hurt := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, pcache.PackLimit(0)) // objects as files, to damage them (packs: internal/torture)
			f, n := counted(t, s, "t/damage")
			ctx := context.Background()
			mustCall(t, f, ctx, xyz{4, 5, 6})
			objs := objectFiles(t, dir)
			if len(objs) != 1 {
				t.Fatalf("want 1 object, got %v", objs)
			}
			if err := hurt(objs[0]); err != nil {
				t.Fatal(err)
			}
			if got := mustCall(t, f, ctx, xyz{4, 5, 6}); got != 456 || n.Load() != 2 {
				t.Fatalf("after %s: got %d after %d computations, want 456 after 2", name, got, n.Load())
			}
			if got := mustCall(t, f, ctx, xyz{4, 5, 6}); got != 456 || n.Load() != 2 {
				t.Fatalf("re-stored entry does not hit: %d after %d computations", got, n.Load())
			}
			if st := f.Stats(); st.Corrupt != 1 {
				t.Fatalf("Stats.Corrupt = %d, want 1", st.Corrupt)
			}
		})
	}
}

func TestConcurrentGoroutinesComputeOnce(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	var n atomic.Int64
	gate := make(chan struct{})
	f := pcache.MustWrap(s, "t/flight", func(_ context.Context, x int) (int, error) {
		n.Add(1)
		<-gate
		return x + 1, nil
	})
	const workers, keys = 64, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			x := w % keys
			got, err := f.Call(context.Background(), x)
			if err == nil && got != x+1 {
				err = fmt.Errorf("key %d: got %d", x, got)
			}
			errs <- err
		})
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != keys {
		t.Fatalf("%d goroutines on %d keys computed %d times", workers, keys, n.Load())
	}
}

func TestWrapRejects(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	fn := func(_ context.Context, a struct{ X, Verbose int }) (int, error) { return a.X, nil }
	cases := []struct {
		name string
		opts []pcache.Option
		want string
	}{
		{"", nil, "empty"},
		{"/abs/path", nil, "absolute"},
		{"a/../b", nil, `".."`},
		{"a//b", nil, "empty path segment"},
		{`a\b`, nil, `'\\'`},
		{"a\x00b", nil, "not allowed"},
		{"ok/name", []pcache.Option{pcache.Ignore("Nope")}, "Nope"},
		{"ok/name", []pcache.Option{pcache.Ignore("X"), pcache.HashArg("X")}, "X"},
		{"ok/name", []pcache.Option{pcache.Version("1"), pcache.Version("2")}, "Version"},
	}
	for _, c := range cases {
		_, err := pcache.Wrap(s, c.name, fn, c.opts...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Wrap(%q, %d options) = %v, want an error mentioning %s", c.name, len(c.opts), err, c.want)
		}
	}
	if _, err := pcache.Wrap(s, "ok/name", fn); err != nil {
		t.Fatalf("valid name rejected: %v", err)
	}
}

func TestIgnoreAndVersion(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	type args struct {
		X       int
		Verbose bool
	}
	var n atomic.Int64
	fn := func(_ context.Context, a args) (int, error) { n.Add(1); return a.X, nil }
	f1 := pcache.MustWrap(s, "t/ignore", fn, pcache.Ignore("Verbose"))
	ctx := context.Background()
	mustCall(t, f1, ctx, args{X: 1})
	mustCall(t, f1, ctx, args{X: 1, Verbose: true})
	if n.Load() != 1 {
		t.Fatalf("calls differing only in an ignored argument computed %d times", n.Load())
	}
	f2 := pcache.MustWrap(s, "t/ignore", fn, pcache.Ignore("Verbose"), pcache.Version("2"))
	mustCall(t, f2, ctx, args{X: 1})
	if n.Load() != 2 {
		t.Fatal("a new Version served an old entry")
	}
}

func TestDropIfEqualKeepsOldEntries(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	type v1 struct{ X int }
	type v2 struct{ X, T int }
	var n atomic.Int64
	old := pcache.MustWrap(s, "t/evolve", func(_ context.Context, a v1) (int, error) { n.Add(1); return a.X, nil })
	mustCall(t, old, ctx, v1{X: 5})
	evolved := pcache.MustWrap(s, "t/evolve", func(_ context.Context, a v2) (int, error) { n.Add(1); return a.X + a.T, nil },
		pcache.DropIfEqual("T", 0))
	if got := mustCall(t, evolved, ctx, v2{X: 5}); got != 5 || n.Load() != 1 {
		t.Fatalf("T=0 did not hit the entry stored before T existed: %d after %d computations", got, n.Load())
	}
	if got := mustCall(t, evolved, ctx, v2{X: 5, T: 1}); got != 6 || n.Load() != 2 {
		t.Fatalf("T=1: %d after %d computations", got, n.Load())
	}
}

func TestResultsAreFreshCopies(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	f := pcache.MustWrap(s, "t/fresh", func(_ context.Context, x int) ([]int, error) { return []int{x, x}, nil })
	ctx := context.Background()
	mustCall(t, f, ctx, 1)
	a := mustCall(t, f, ctx, 1)
	a[0] = 99
	if b := mustCall(t, f, ctx, 1); b[0] != 1 {
		t.Fatalf("mutating a result changed the cache: %v", b)
	}
}

func TestRawBytesResult(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, pcache.PackLimit(0)) // a file of its own, as b3sum reads it
	f := pcache.MustWrap(s, "t/raw", func(_ context.Context, x int) ([]byte, error) { return []byte("raw bytes"), nil })
	mustCall(t, f, context.Background(), 1)
	objs := objectFiles(t, dir)
	b, err := os.ReadFile(objs[0])
	if err != nil || string(b) != "raw bytes" {
		t.Fatalf("[]byte result stored as %q (%v), want the raw bytes", b, err)
	}
	if got := mustCall(t, f, context.Background(), 1); string(got) != "raw bytes" {
		t.Fatalf("hit: %q", got)
	}
}

func TestDefaultDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PCACHE_DIR", dir)
	s, err := pcache.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dir() != dir {
		t.Fatalf("Dir() = %s, want %s", s.Dir(), dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Fatalf("no README in a new cache: %v", err)
	}
}

func TestStableHash(t *testing.T) {
	t.Parallel()
	a, err := pcache.StableHash(map[string]int{"a": 1, "b": 2})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pcache.StableHash(map[string]int{"b": 2, "a": 1})
	c, _ := pcache.StableHash(map[string]int{"a": 1, "b": 3})
	if a != b || a == c || len(a) != 64 {
		t.Fatalf("StableHash: %s %s %s", a, b, c)
	}
	if _, err := pcache.StableHash(func() {}); err == nil {
		t.Fatal("StableHash of a func succeeded")
	}
}

func TestUnkeyableArgumentNamesTheField(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	type withFunc struct {
		X  int
		Fn func() int
	}
	_, err := pcache.Wrap(s, "t/func", func(_ context.Context, a withFunc) (int, error) { return a.X, nil })
	if err == nil || !strings.Contains(err.Error(), "Fn") {
		t.Fatalf("Wrap with a func field: %v, want an error naming Fn", err)
	}
	if _, err := pcache.Wrap(s, "t/func", func(_ context.Context, a withFunc) (int, error) { return a.X, nil }, pcache.Ignore("Fn")); err != nil {
		t.Fatalf("Ignore(\"Fn\") should make it keyable: %v", err)
	}
	type nested struct {
		Items []any
	}
	f := pcache.MustWrap(s, "t/nested", func(_ context.Context, a nested) (int, error) { return len(a.Items), nil })
	_, err = f.Call(context.Background(), nested{Items: []any{1, "two", make(chan int)}})
	if err == nil || !strings.Contains(err.Error(), "Items[2]") || !strings.Contains(err.Error(), "chan") {
		t.Fatalf("a chan inside a slice: %v, want an error naming Items[2] and the type", err)
	}
}
