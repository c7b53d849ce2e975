package pcache_test

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/pcache/pcache"
)

// TestWaitersAreReportedAsWaited: goroutines that wait for another
// goroutine computing their key are misses served by waiting (Source
// "waited", counted in Misses and Waits), not local hits.
func TestWaitersAreReportedAsWaited(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	entered, gate := make(chan struct{}), make(chan struct{})
	f := pcache.MustWrap(s, "t/waiters", func(_ context.Context, x int) (int, error) {
		close(entered)
		<-gate
		return x * 2, nil
	})
	var mu sync.Mutex
	var sources []string
	ctx := pcache.OnCall(context.Background(), func(i pcache.CallInfo) {
		mu.Lock()
		sources = append(sources, string(i.Source))
		mu.Unlock()
	})
	const waiters = 7
	var wg sync.WaitGroup
	wg.Go(func() { f.Call(ctx, 21) })
	<-entered
	for range waiters {
		wg.Go(func() {
			if v, err := f.Call(ctx, 21); err != nil || v != 42 {
				t.Errorf("waiter: %d, %v", v, err)
			}
		})
	}
	for pcache.Waiters(f, 21) < waiters {
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	slices.Sort(sources)
	want := []string{"computed", "waited", "waited", "waited", "waited", "waited", "waited", "waited"}
	if !slices.Equal(sources, want) {
		t.Fatalf("sources %v, want %v", sources, want)
	}
	st := f.Stats()
	if st.Hits != 0 || st.Misses != 8 || st.Waits != waiters || st.Computes != 1 {
		t.Fatalf("stats %+v: want 0 hits, 8 misses, %d waits, 1 computation", st, waiters)
	}
}
