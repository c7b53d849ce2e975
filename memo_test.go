package pcache_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pcache/pcache"
)

// useDefault points the default Store at a fresh directory for the test.
func useDefault(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pcache.Close()
	t.Setenv("PCACHE_DIR", dir)
	t.Setenv("PCACHE_REMOTE", "")
	t.Setenv("PCACHE_MODE", "")
	t.Cleanup(func() { pcache.Close() })
	return dir
}

func TestMemo(t *testing.T) {
	useDefault(t)
	var n atomic.Int64
	square := pcache.Memo("memo/square", func(x int) int { n.Add(1); return x * x })
	for range 3 {
		for x := range 5 {
			if got := square(x); got != x*x {
				t.Fatalf("square(%d) = %d", x, got)
			}
		}
	}
	if n.Load() != 5 {
		t.Fatalf("5 distinct arguments computed %d times", n.Load())
	}
	// Entries are the Default store's, shared with a Wrap of the same shape.
	s, err := pcache.Default()
	if err != nil {
		t.Fatal(err)
	}
	w := pcache.MustWrap(s, "memo/square", func(_ context.Context, x int) (int, error) { return -1, nil })
	if got := mustCall(t, w, context.Background(), 3); got != 9 {
		t.Fatalf("a Wrap of the same name and types got %d; want the Memo's entry", got)
	}
	// After Close the next call opens the default Store again.
	if err := pcache.Close(); err != nil {
		t.Fatal(err)
	}
	if got := square(4); got != 16 || n.Load() != 5 {
		t.Fatalf("after Close: %d, %d computes", got, n.Load())
	}
}

type point struct{ X, Y int }

// TestMemoBlob: a memoized function whose result is a Blob is cached like
// a wrapped one: the second call reads the stored object, not a new run.
func TestMemoBlob(t *testing.T) {
	useDefault(t)
	var n atomic.Int64
	render := pcache.MemoErr("memo/blob", func(frames int) (pcache.Blob, error) {
		n.Add(1)
		return pcache.WriteBlob(context.Background(), func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "%d frames", frames)
			return err
		})
	})
	for i := range 2 {
		b, err := render(24)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got := blobText(t, b); got != "24 frames" {
			t.Fatalf("call %d: %q", i, got)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("2 calls with the same argument computed %d times", n.Load())
	}
}

// TestMemoBlobVerifyMismatch: under PCACHE_MODE=verify a memoized Blob
// whose recomputation differs is returned as the new truth, readable.
func TestMemoBlobVerifyMismatch(t *testing.T) {
	useDefault(t)
	t.Setenv("PCACHE_MODE", "verify")
	var n atomic.Int64
	render := pcache.Memo("memo/blob-verify", func(frames int) pcache.Blob {
		run := n.Add(1)
		b, err := pcache.WriteBlob(context.Background(), func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "%d frames, run %d", frames, run)
			return err
		})
		if err != nil {
			panic(err)
		}
		return b
	})
	for i, want := range []string{"24 frames, run 1", "24 frames, run 2"} {
		if got := blobText(t, render(24)); got != want {
			t.Fatalf("call %d: %q; want %q", i, got, want)
		}
	}
}

// blobText returns what b holds, failing the test if it cannot be read.
func blobText(t *testing.T, b pcache.Blob) string {
	t.Helper()
	r, err := b.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

func TestMemo2AndMemo3(t *testing.T) {
	useDefault(t)
	var n atomic.Int64
	dist := pcache.Memo2("memo/dist", func(a, b point) int {
		n.Add(1)
		return abs(a.X-b.X) + abs(a.Y-b.Y)
	}, pcache.Params("from", "to"))
	p, q := point{1, 2}, point{4, 6}
	first, second := dist(p, q), dist(p, q)
	if first != 7 || second != 7 || n.Load() != 1 {
		t.Fatalf("equal arguments: %d computes", n.Load())
	}
	if dist(q, p) != 7 || n.Load() != 2 {
		t.Fatalf("different arguments: %d computes", n.Load())
	}
	// A Wrap of a struct with the same names shares the entries.
	type fromTo struct {
		From point `pcache:"from"`
		To   point `pcache:"to"`
	}
	s, _ := pcache.Default()
	w := pcache.MustWrap(s, "memo/dist", func(_ context.Context, a fromTo) (int, error) { return -1, nil })
	if got := mustCall(t, w, context.Background(), fromTo{p, q}); got != 7 {
		t.Fatalf("Wrap of {from, to}: %d", got)
	}

	// Key rules address the parameters by name.
	join := pcache.Memo3("memo/join", func(sep string, parts []string, verbose bool) string {
		n.Add(1)
		return strings.Join(parts, sep)
	}, pcache.Params("sep", "parts", "verbose"), pcache.Ignore("verbose"))
	n.Store(0)
	if join("-", []string{"a", "b"}, false) != "a-b" || join("-", []string{"a", "b"}, true) != "a-b" || n.Load() != 1 {
		t.Fatalf("Ignore(verbose): %d computes", n.Load())
	}
	// Without Params: arg1, arg2.
	add := pcache.Memo2("memo/add", func(a, b int) int { return a + b })
	if add(2, 3) != 5 {
		t.Fatal("add")
	}
	var e error = errors.New("x")
	describe := pcache.Memo2("memo/iface", func(err error, k int) string { return fmt.Sprint(err, k) })
	if describe(nil, 1) != "<nil> 1" || describe(e, 2) != "x 2" {
		t.Fatal("interface parameters")
	}
}

func TestMemoErr(t *testing.T) {
	useDefault(t)
	var n atomic.Int64
	boom := errors.New("boom")
	parse := pcache.MemoErr("memo/parse", func(s string) (int, error) {
		n.Add(1)
		if s == "bad" {
			return 0, boom
		}
		return len(s), nil
	})
	for range 2 {
		if _, err := parse("bad"); err != boom {
			t.Fatalf("the function's error: %v", err)
		}
	}
	if n.Load() != 2 {
		t.Fatalf("an error was cached: %d computes", n.Load())
	}
	if v, err := parse("good"); v != 4 || err != nil {
		t.Fatal(v, err)
	}
	div := pcache.MemoErr2("memo/div", func(a, b int) (int, error) {
		if b == 0 {
			return 0, boom
		}
		return a / b, nil
	})
	if v, err := div(6, 3); v != 2 || err != nil {
		t.Fatal(v, err)
	}
	if _, err := div(1, 0); err != boom {
		t.Fatal(err)
	}
	sum3 := pcache.MemoErr3("memo/sum3", func(a, b, c int) (int, error) { return a + b + c, nil })
	if v, _ := sum3(1, 2, 3); v != 6 {
		t.Fatal(v)
	}
}

// TestMemoModes: under error-on-miss a MemoErr returns ErrCacheMiss; a Memo,
// which has no error to return, computes.
func TestMemoModes(t *testing.T) {
	useDefault(t)
	t.Setenv("PCACHE_MODE", "error-on-miss")
	var n atomic.Int64
	f := pcache.MemoErr("memo/modes", func(x int) (int, error) { n.Add(1); return x, nil })
	if _, err := f(1); !errors.Is(err, pcache.ErrCacheMiss) || n.Load() != 0 {
		t.Fatalf("MemoErr under error-on-miss: %v, %d computes", err, n.Load())
	}
	g := pcache.Memo("memo/modes2", func(x int) int { n.Add(1); return x })
	if g(1) != 1 || n.Load() != 1 {
		t.Fatalf("Memo under error-on-miss: %d computes", n.Load())
	}
}

// TestMemoConcurrent: equal arguments in concurrent calls compute once.
func TestMemoConcurrent(t *testing.T) {
	useDefault(t)
	var n atomic.Int64
	release := make(chan struct{})
	slow := pcache.Memo("memo/concurrent", func(x int) int {
		n.Add(1)
		<-release
		return x
	})
	var wg sync.WaitGroup
	var started sync.WaitGroup
	for range 8 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			if slow(5) != 5 {
				t.Error("wrong value")
			}
		}()
	}
	started.Wait()
	close(release)
	wg.Wait()
	if n.Load() != 1 {
		t.Fatalf("8 concurrent equal calls computed %d times", n.Load())
	}
}

// TestMemoWithoutCache: a cache directory that cannot be used costs
// nothing but the caching.
func TestMemoWithoutCache(t *testing.T) {
	pcache.Close()
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	t.Setenv("PCACHE_DIR", filepath.Join(file, "cache")) // under a regular file: cannot be made
	t.Cleanup(func() { pcache.Close() })
	var n atomic.Int64
	f := pcache.Memo("memo/nocache", func(x int) int { n.Add(1); return x + 1 })
	first, second := f(1), f(1)
	if first != 2 || second != 2 || n.Load() != 2 {
		t.Fatalf("without a usable cache: %d computes", n.Load())
	}
	// An argument that cannot be keyed: computed, not a panic.
	g := pcache.Memo("memo/unkeyable", func(m map[float64]int) int { n.Add(1); return len(m) })
	useDefault(t)
	nan := func() float64 { z := 0.0; return z / z }()
	if g(map[float64]int{nan: 1, nan + 0: 2}) != 2 {
		t.Fatal("an unkeyable argument")
	}
}

func TestMemoBuildErrorsPanic(t *testing.T) {
	cases := map[string]func(){
		"bad name":     func() { pcache.Memo("bad name!", func(x int) int { return x }) },
		"empty name":   func() { pcache.Memo("", func(x int) int { return x }) },
		"nil function": func() { pcache.Memo[int, int]("memo/nil", nil) },
		"unknown rule": func() { pcache.Memo2("memo/r", func(a, b int) int { return a }, pcache.Ignore("c")) },
		"params count": func() { pcache.Memo2("memo/p", func(a, b int) int { return a }, pcache.Params("a")) },
		"params twice": func() {
			pcache.Memo2("memo/p", func(a, b int) int { return a }, pcache.Params("a", "b"), pcache.Params("a", "b"))
		},
		"duplicate names": func() { pcache.Memo2("memo/p", func(a, b int) int { return a }, pcache.Params("a", "a")) },
		"params on Memo":  func() { pcache.Memo("memo/p", func(a int) int { return a }, pcache.Params("a")) },
		"unstorable":      func() { pcache.Memo("memo/ch", func(a int) chan int { return nil }) },
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.HasPrefix(fmt.Sprint(r), "pcache.Memo") {
					t.Fatalf("recovered %v; want a panic naming the memoizer", r)
				}
			}()
			build()
		})
	}
}
