package pcache_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pcache/pcache"
)

// writeArgs is permacache's f(x, y=2, out): it writes str(X*Y) to Out.
type writeArgs struct {
	X, Y int
	Out  string `pcache:",out"`
}

func outFunc(t *testing.T, s *pcache.Store) (*pcache.Func[writeArgs, int], *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	f, err := pcache.Wrap(s, "t/out", func(_ context.Context, a writeArgs) (int, error) {
		n.Add(1)
		return a.X * a.Y, os.WriteFile(a.Out, []byte(strconv.Itoa(a.X*a.Y)), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, &n
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOutFiles(t *testing.T) {
	t.Parallel()
	type step struct {
		x       int
		path    string // relative to the test dir
		before  func(dir string)
		want    string
		compute int64 // total computations after the step
	}
	overwrite := func(names ...string) func(string) {
		return func(dir string) {
			for _, n := range names {
				os.WriteFile(filepath.Join(dir, n), []byte("overwritten by hand"), 0o644)
			}
		}
	}
	remove := func(names ...string) func(string) {
		return func(dir string) {
			for _, n := range names {
				os.Remove(filepath.Join(dir, n))
			}
		}
	}
	cases := map[string][]step{
		"same path twice":          {{x: 3, path: "abc", want: "6", compute: 1}, {x: 3, path: "abc", want: "6", compute: 1}},
		"dot path is the same":     {{x: 3, path: "d/abc", want: "6", compute: 1}, {x: 3, path: "d/./abc", want: "6", compute: 1}},
		"overwritten, new path":    {{x: 3, path: "abc", want: "6", compute: 1}, {x: 3, path: "def", before: overwrite("abc"), want: "6", compute: 1}},
		"two written, one changed": {{x: 3, path: "abc", want: "6", compute: 1}, {x: 3, path: "def", want: "6", compute: 1}, {x: 3, path: "ghi", before: overwrite("abc"), want: "6", compute: 1}, {x: 3, path: "jkl", before: overwrite("def"), want: "6", compute: 1}},
		"both overwritten, again":  {{x: 3, path: "abc", want: "6", compute: 1}, {x: 3, path: "def", want: "6", compute: 1}, {x: 3, path: "abc", before: overwrite("abc", "def"), want: "6", compute: 1}},
		"all paths deleted":        {{x: 3, path: "abc", want: "6", compute: 1}, {x: 3, path: "def", want: "6", compute: 1}, {x: 3, path: "ghi", before: remove("abc", "def"), want: "6", compute: 1}},
		"crossing paths": {
			{x: 123, path: "abc", want: "246", compute: 1}, {x: 234, path: "def", want: "468", compute: 2},
			{x: 123, path: "def", want: "246", compute: 2}, {x: 234, path: "abc", want: "468", compute: 2},
		},
		"different key computes": {{x: 3, path: "abc", want: "6", compute: 1}, {x: 4, path: "abc", want: "8", compute: 2}},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.Mkdir(filepath.Join(dir, "d"), 0o755)
			s := openStore(t, t.TempDir())
			f, n := outFunc(t, s)
			for i, st := range steps {
				if st.before != nil {
					st.before(dir)
				}
				p := filepath.Join(dir, st.path)
				if _, err := f.Call(context.Background(), writeArgs{X: st.x, Y: 2, Out: p}); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got := readFile(t, p); got != st.want || n.Load() != st.compute {
					t.Fatalf("step %d: %s holds %q after %d computations, want %q after %d", i, st.path, got, n.Load(), st.want, st.compute)
				}
			}
		})
	}
}

func TestOutFileRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s := openStore(t, t.TempDir())
	f, n := outFunc(t, s)
	ctx := context.Background()
	for _, p := range []string{"abc", "./abc", filepath.Join(dir, "abc")} {
		if _, err := f.Call(ctx, writeArgs{X: 5, Y: 2, Out: p}); err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != 1 || readFile(t, filepath.Join(dir, "abc")) != "10" {
		t.Fatalf("relative and absolute spellings of one path: %d computations", n.Load())
	}
}

func TestOutFileNotWrittenCachesNothing(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	var n atomic.Int64
	f := pcache.MustWrap(s, "t/lazy", func(_ context.Context, a writeArgs) (int, error) {
		if n.Add(1) == 1 {
			return 1, nil // forgot to write
		}
		return 1, os.WriteFile(a.Out, []byte("x"), 0o644)
	})
	p := filepath.Join(t.TempDir(), "out")
	_, err := f.Call(context.Background(), writeArgs{Out: p})
	if err == nil || !strings.Contains(err.Error(), `"Out"`) {
		t.Fatalf("missing out file: %v, want an error naming Out", err)
	}
	if _, err := f.Call(context.Background(), writeArgs{Out: p}); err != nil || n.Load() != 2 {
		t.Fatalf("second call: %v after %d computations", err, n.Load())
	}
}

func TestTwoOutFiles(t *testing.T) {
	t.Parallel()
	type two struct {
		X    int
		A, B string
	}
	s := openStore(t, t.TempDir())
	var n atomic.Int64
	f := pcache.MustWrap(s, "t/two", func(_ context.Context, a two) (string, error) {
		n.Add(1)
		if err := os.WriteFile(a.A, []byte("a"+strconv.Itoa(a.X)), 0o600); err != nil {
			return "", err
		}
		return "ok", os.WriteFile(a.B, []byte("b"+strconv.Itoa(a.X)), 0o644)
	}, pcache.OutFile("A"), pcache.OutFile("B"))
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := f.Call(ctx, two{X: 1, A: filepath.Join(dir, "a1"), B: filepath.Join(dir, "b1")}); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Call(ctx, two{X: 1, A: filepath.Join(dir, "a2"), B: filepath.Join(dir, "b2")}); err != nil || got != "ok" {
		t.Fatal(got, err)
	}
	if n.Load() != 1 || readFile(t, filepath.Join(dir, "a2")) != "a1" || readFile(t, filepath.Join(dir, "b2")) != "b1" {
		t.Fatalf("two out files to new paths: %d computations", n.Load())
	}
	if fi, err := os.Stat(filepath.Join(dir, "a2")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored mode: %v %v", fi.Mode(), err)
	}
}

// TestFailedCallReturnsZero: a call that fails returns the zero result,
// even when its lookup decoded a stored one it could not serve (an out
// file that could not be restored, here to a directory).
func TestFailedCallReturnsZero(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	f, _ := outFunc(t, s)
	dir := t.TempDir()
	if got := mustCall(t, f, context.Background(), writeArgs{X: 2, Y: 3, Out: filepath.Join(dir, "a")}); got != 6 {
		t.Fatalf("first call: %d", got)
	}
	blocked := filepath.Join(dir, "blocked")
	if err := os.Mkdir(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
	}{
		{"the function's error", context.Background()},
		{"error on miss", pcache.ErrorOnMiss(context.Background())},
	} {
		if got, err := f.Call(tc.ctx, writeArgs{X: 2, Y: 3, Out: blocked}); err == nil || got != 0 {
			t.Errorf("%s: %d, %v; want 0 and an error", tc.name, got, err)
		}
	}
}
