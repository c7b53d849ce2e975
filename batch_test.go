package pcache_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

type elem struct {
	X int
	S string
}

// batchDouble returns a batch function doubling X that records how many
// elements it was given in total.
func batchDouble(t *testing.T, s *pcache.Store, name string, opts ...pcache.Option) (*pcache.BatchFunc[elem, int], *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	f, err := pcache.WrapBatch(s, name, func(_ context.Context, xs []elem) ([]int, error) {
		n.Add(int64(len(xs)))
		out := make([]int, len(xs))
		for i, x := range xs {
			out[i] = 2 * abs(x.X)
		}
		return out, nil
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f, &n
}

func abs(x int) int { return max(x, -x) }

func elems(xs ...int) []elem {
	out := make([]elem, len(xs))
	for i, x := range xs {
		out[i] = elem{X: x}
	}
	return out
}

func TestBatchComputesOnlyMissing(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	absKey := pcache.MapArg("X", func(v any) (any, error) { return abs(v.(int)), nil })
	f, n := batchDouble(t, s, "t/batch", absKey)
	ctx := context.Background()
	steps := []struct {
		in    []int
		total int64
	}{
		{[]int{1, 2, 3}, 3},
		{[]int{1, 5, 3, 1, 5}, 4},
		{[]int{-1, -5}, 4}, // same keys through MapArg
		{[]int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, 14},
	}
	for _, st := range steps {
		got, err := f.Call(ctx, elems(st.in...))
		if err != nil {
			t.Fatal(err)
		}
		want := make([]int, len(st.in))
		for i, x := range st.in {
			want[i] = 2 * abs(x)
		}
		if !slices.Equal(got, want) || n.Load() != st.total {
			t.Fatalf("Call(%v) = %v after %d computed elements, want %v after %d", st.in, got, n.Load(), want, st.total)
		}
	}
}

func TestBatchTwoVaryingFields(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	f, n := batchDouble(t, s, "t/batch2")
	ctx := context.Background()
	if _, err := f.Call(ctx, []elem{{1, "a"}, {2, "b"}, {3, "c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Call(ctx, []elem{{1, "a"}, {5, "b"}, {3, "c"}, {1, "d"}, {5, "e"}}); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 6 {
		t.Fatalf("computed %d elements, want 3 + 3", n.Load())
	}
}

func TestBatchFailuresCacheNothing(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	boom := errors.New("boom")
	var mode atomic.Int32 // 0 ok, 1 wrong length, 2 error
	var n atomic.Int64
	f := pcache.MustWrapBatch(s, "t/batchfail", func(_ context.Context, xs []int) ([]int, error) {
		n.Add(int64(len(xs)))
		switch mode.Load() {
		case 1:
			return make([]int, len(xs)+1), nil
		case 2:
			return nil, boom
		}
		return xs, nil
	})
	if _, err := f.Call(ctx, []int{1}); err != nil {
		t.Fatal(err)
	}
	mode.Store(1)
	if _, err := f.Call(ctx, []int{1, 2, 3}); err == nil || !strings.Contains(err.Error(), "3 results for 2 inputs") && !strings.Contains(err.Error(), "returned 3 results for 2 inputs") {
		t.Fatalf("wrong length: %v", err)
	}
	mode.Store(2)
	if _, err := f.Call(ctx, []int{1, 2, 3}); !errors.Is(err, boom) {
		t.Fatalf("error: %v", err)
	}
	if _, err := f.Call(pcache.ErrorOnMiss(ctx), []int{1, 2, 3}); !errors.Is(err, pcache.ErrCacheMiss) || !strings.Contains(err.Error(), "2 of 3") {
		t.Fatalf("ErrorOnMiss after failures: %v (want 2 of 3 missing: nothing cached, element 1 kept)", err)
	}
	mode.Store(0)
	before := n.Load()
	got, err := f.Call(ctx, []int{3, 1, 2})
	if err != nil || !slices.Equal(got, []int{3, 1, 2}) || n.Load() != before+2 {
		t.Fatalf("got %v, %v after %d new elements", got, err, n.Load()-before)
	}
}

func TestBatchSharesEntriesWithWrap(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	f, n := batchDouble(t, s, "t/shared")
	if _, err := f.Call(ctx, elems(1, 2)); err != nil {
		t.Fatal(err)
	}
	var single atomic.Int64
	g := pcache.MustWrap(s, "t/shared", func(_ context.Context, e elem) (int, error) { single.Add(1); return -1, nil })
	if got := mustCall(t, g, ctx, elem{X: 2}); got != 4 || single.Load() != 0 {
		t.Fatalf("Wrap over a batch entry: %d after %d computations", got, single.Load())
	}
	mustCall(t, g, ctx, elem{X: 7})
	if got, err := f.Call(ctx, elems(7, 1)); err != nil || !slices.Equal(got, []int{-1, 2}) || n.Load() != 2 {
		t.Fatalf("batch over a Wrap entry: %v %v after %d", got, err, n.Load())
	}
}

func TestBatchAllHitsDoesNotCall(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	f, n := batchDouble(t, s, "t/allhit")
	ctx := context.Background()
	in := elems(1, 2, 3, 2, 1)
	if _, err := f.Call(ctx, in); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 {
		t.Fatalf("duplicates computed: %d", n.Load())
	}
	calls := f.Stats().Computes
	if _, err := f.Call(ctx, in); err != nil {
		t.Fatal(err)
	}
	if f.Stats().Computes != calls {
		t.Fatal("fn called although every element hit")
	}
	if got, err := f.Call(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty batch: %v %v", got, err)
	}
}

// A large batch (many chunks of lookups, on every core) serves exactly the
// entries that are live: none that Forget or ForgetAll removed, each other
// one without computing it.
func TestBatchServesOnlyLiveEntries(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	f, n := batchDouble(t, s, "t/live")
	in := make([]int, 1000)
	for i := range in {
		in[i] = i
	}
	want := make([]int, len(in))
	for i, x := range in {
		want[i] = 2 * x
	}
	call := func(step string, computed int64) {
		t.Helper()
		n.Store(0)
		got, err := f.Call(ctx, elems(in...))
		if err != nil || !slices.Equal(got, want) || n.Load() != computed {
			t.Fatalf("%s: %v computing %d elements, want %d", step, err, n.Load(), computed)
		}
	}
	call("empty cache", 1000)
	call("all stored", 0)
	g := pcache.MustWrap(s, "t/live", func(_ context.Context, e elem) (int, error) { return 2 * e.X, nil })
	forgotten := int64(0)
	for x := 0; x < len(in); x += 7 {
		if err := g.Forget(ctx, elem{X: x}); err != nil {
			t.Fatal(err)
		}
		forgotten++
	}
	call("after Forget of every 7th", forgotten)
	if err := g.ForgetAll(ctx); err != nil {
		t.Fatal(err)
	}
	call("after ForgetAll", 1000)
	call("stored again", 0)
}

// TestBatchHitAllocations: a batch of hits allocates a handful of objects
// per element (the key's bytes, the result read and decoded, the record),
// not one per step on the way (the argument boxed to key it, a Sink and a
// decoded value per element, an entry moved to the heap): each of those
// cost every hit 20-30 ns and the collector more. Not parallel: the count
// is the process's.
func TestBatchHitAllocations(t *testing.T) {
	s := openStore(t, t.TempDir())
	f, err := pcache.WrapBatch(s, "t/batch-allocs", func(_ context.Context, xs []elem) ([]string, error) {
		out := make([]string, len(xs))
		for i, x := range xs {
			out[i] = strings.Repeat("r", x.X%50+10)
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	in := make([]elem, 2000)
	for i := range in {
		in[i] = elem{X: i, S: "some argument text"}
	}
	ctx := context.Background()
	if _, err := f.Call(ctx, in); err != nil {
		t.Fatal(err)
	}
	hits := pcache.ErrorOnMiss(ctx)
	perElem := testing.AllocsPerRun(5, func() {
		if _, err := f.Call(hits, in); err != nil {
			t.Fatal(err)
		}
	}) / float64(len(in))
	t.Logf("%.2f allocations per element of a batch of hits", perElem)
	if testutil.Race {
		// Under the race detector sync.Pool drops a random quarter of what
		// is put back, and how often a dropped encoder is replaced depends
		// on the scheduling: 3.8 on an idle machine, up to 5.8 with the
		// processors busy. Not a steady measure: the bound holds for
		// normal builds, which the suite runs too.
		return
	}
	limit := 4.0 // 3.0 here, busy or idle; 7.7 before the steps above went
	if perElem > limit {
		t.Fatalf("a batch of hits allocates %.2f objects per element, want at most %.1f", perElem, limit)
	}
}
