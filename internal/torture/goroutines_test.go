package torture_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache"
)

// TestGoroutinesComputeEachKeyOnce is the in-process twin of
// TestProcessesComputeEachKeyOnce: 64 goroutines call one function over the
// same 2,000 keys, each in an order of its own, all started at once. Every
// call must return the right value, and every key must be computed exactly
// once (the in-process flight plus the per-key lock, with no help from luck:
// half the goroutines walk the keys in nearly the same order, so many of them
// miss the same key at the same moment).
func TestGoroutinesComputeEachKeyOnce(t *testing.T) {
	t.Parallel()
	const goroutines = 64
	keys := 2000
	if testing.Short() {
		keys = 200
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	s := openStore(t, t.TempDir())
	computed := make([]atomic.Int32, keys)
	f := pcache.MustWrap(s, "torture/goroutines", func(_ context.Context, k int) (string, error) {
		computed[k].Add(1)
		runtime.Gosched() // widen the window in which others miss the same key
		return goroutineValue(k), nil
	})
	orders := make([][]int, goroutines)
	for g := range orders {
		r := rand.New(rand.NewPCG(seed, uint64(g)))
		switch g % 4 {
		case 0, 1: // a random permutation
			orders[g] = r.Perm(keys)
		case 2: // 0..keys-1 shuffled within windows of 16: a crowd on each key
			orders[g] = windowShuffle(r, keys, 16, false)
		case 3: // the same from the other end
			orders[g] = windowShuffle(r, keys, 16, true)
		}
	}
	var (
		wg          sync.WaitGroup
		start       = make(chan struct{})
		errs        atomic.Int64
		wrong       atomic.Int64
		firstErrMu  sync.Mutex
		firstErr    error
		recordError = func(err error) {
			firstErrMu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			firstErrMu.Unlock()
		}
	)
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for _, k := range orders[g] {
				v, err := f.Call(context.Background(), k)
				if err != nil {
					errs.Add(1)
					recordError(fmt.Errorf("goroutine %d, key %d: %w", g, k, err))
					continue
				}
				if want := goroutineValue(k); v != want {
					wrong.Add(1)
					recordError(fmt.Errorf("goroutine %d, key %d: got %q, want %q", g, k, v, want))
				}
			}
		})
	}
	begin := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(begin)
	total := 0
	var twice []int
	for k := range computed {
		n := int(computed[k].Load())
		total += n
		if n != 1 {
			twice = append(twice, k)
		}
	}
	st := f.Stats()
	t.Logf("%d goroutines × %d keys = %d calls in %v: %d errors, %d wrong values, %d computations (stats: %d hits, %d waits)",
		goroutines, keys, goroutines*keys, elapsed.Round(time.Millisecond), errs.Load(), wrong.Load(), total, st.Hits, st.Waits)
	if firstErr != nil {
		t.Errorf("first failure: %v", firstErr)
	}
	if total != keys || len(twice) > 0 {
		t.Errorf("%d computations of %d keys; keys not computed exactly once: %v", total, keys, head(twice, 20))
	}
	if st.Computes != int64(keys) {
		t.Errorf("Stats.Computes = %d, want %d", st.Computes, keys)
	}
}

func goroutineValue(k int) string { return fmt.Sprintf("value of key %d", k) }

// windowShuffle returns 0..n-1 (or n-1..0) with each run of w consecutive
// keys shuffled.
func windowShuffle(r *rand.Rand, n, w int, reverse bool) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
		if reverse {
			out[i] = n - 1 - i
		}
	}
	for lo := 0; lo < n; lo += w {
		win := out[lo:min(lo+w, n)]
		r.Shuffle(len(win), func(i, j int) { win[i], win[j] = win[j], win[i] })
	}
	return out
}

func head[T any](s []T, n int) []T { return s[:min(n, len(s))] }
