package pcache_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestExpire (issue 24): an entry older than the function's Expire is a
// miss, computed and stored again; Explain says it expired; a batch, a
// second process and another machine through the remote all honour it.
func TestExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &fakeClock{now: time.Now()}
	var calls atomic.Int64
	report := func(_ context.Context, day int) (string, error) {
		calls.Add(1)
		return clock.Now().Format(time.RFC3339Nano), nil
	}
	url := "file://" + t.TempDir()
	dir := t.TempDir()
	s := openStore(t, dir, pcache.WithClock(clock.Now), pcache.Remote(url))
	f := pcache.MustWrap(s, "expire/report", report, pcache.Expire(time.Hour))
	first := mustCall(t, f, ctx, 1)
	clock.Advance(59 * time.Minute)
	if v := mustCall(t, f, ctx, 1); v != first || calls.Load() != 1 {
		t.Fatalf("within the hour: %q after %d calls, want the stored %q", v, calls.Load(), first)
	}
	clock.Advance(2 * time.Minute)
	if x, err := f.Explain(ctx, 1); err != nil || x.Hit || !strings.Contains(x.Reason, "expired") {
		t.Fatalf("Explain of an expired entry: %+v, %v", x, err)
	}
	if ok, err := f.Contains(ctx, 1); err != nil || ok {
		t.Fatalf("Contains of an expired entry: %v, %v", ok, err)
	}
	second := mustCall(t, f, ctx, 1)
	if second == first || calls.Load() != 2 {
		t.Fatalf("after the hour: %q after %d calls, want a new result", second, calls.Load())
	}
	if v := mustCall(t, f, ctx, 1); v != second || calls.Load() != 2 {
		t.Fatalf("the new entry does not serve: %q after %d calls", v, calls.Load())
	}

	// A batch of the same name and options: expired elements compute.
	b := pcache.MustWrapBatch(s, "expire/report", func(ctx context.Context, days []int) ([]string, error) {
		out := make([]string, len(days))
		for i, d := range days {
			out[i], _ = report(ctx, d)
		}
		return out, nil
	}, pcache.Expire(time.Hour))
	clock.Advance(2 * time.Hour)
	calls.Store(0)
	if vs, err := b.Call(ctx, []int{1, 2}); err != nil || vs[0] == second || calls.Load() != 2 {
		t.Fatalf("batch after expiry: %q, %v, %d computed", vs, err, calls.Load())
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Another machine whose clock is later still: the remote's entries
	// are expired there too, so it computes instead of fetching.
	later := &fakeClock{now: clock.Now().Add(3 * time.Hour)}
	other := openStore(t, t.TempDir(), pcache.WithClock(later.Now), pcache.Remote(url))
	g := pcache.MustWrap(other, "expire/report", report, pcache.Expire(time.Hour))
	calls.Store(0)
	mustCall(t, g, ctx, 2)
	if calls.Load() != 1 || other.Stats().RemoteHits != 0 {
		t.Fatalf("another machine served an expired remote entry (%d computed, %+v)", calls.Load(), other.Stats())
	}
	// Back on the first machine, later: its own entry of 2 has expired,
	// the other machine's fresh one is on the remote. Explain says a call
	// fetches it, and a call does.
	if err := other.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3*time.Hour + time.Minute)
	if x, err := f.Explain(ctx, 2); err != nil || !x.Hit || x.Source != pcache.SourceRemote {
		t.Fatalf("Explain of an expired local entry that the remote has fresh: %+v, %v", x, err)
	}
	calls.Store(0)
	mustCall(t, f, ctx, 2)
	if calls.Load() != 0 || s.Stats().RemoteHits != 1 {
		t.Fatalf("the fresh remote entry was not fetched (%d computed, %+v)", calls.Load(), s.Stats())
	}

	// Without Expire, the same entries serve there.
	h := pcache.MustWrap(other, "expire/report", report)
	calls.Store(0)
	mustCall(t, h, ctx, 1)
	if calls.Load() != 0 {
		t.Fatal("without Expire the stored entry did not serve")
	}
}

func TestExpireRejects(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	fn := func(context.Context, int) (int, error) { return 0, nil }
	for _, opts := range [][]pcache.Option{
		{pcache.Expire(0)},
		{pcache.Expire(-time.Second)},
		{pcache.Expire(time.Hour), pcache.Expire(time.Minute)},
	} {
		if _, err := pcache.Wrap(s, "expire/bad", fn, opts...); err == nil || !strings.Contains(err.Error(), "Expire") {
			t.Errorf("Wrap with %d Expire options: %v", len(opts), err)
		}
	}
}

// TestGCRemovesExpiredEntries: Store.GC drops the entries of functions
// wrapped in the Store that have expired, and frees their objects; entries
// of another result type under the same name, and of functions without
// Expire, stay.
func TestGCRemovesExpiredEntries(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Now()}
	s := openStore(t, t.TempDir(), pcache.WithClock(clock.Now))
	big := func(_ context.Context, n int) ([]byte, error) { return bytes.Repeat([]byte{byte(n)}, 100<<10), nil }
	f := pcache.MustWrap(s, "gc/expiring", big, pcache.Expire(time.Hour))
	other := pcache.MustWrap(s, "gc/expiring", func(_ context.Context, n int) (string, error) { return fmt.Sprint(n), nil })
	keep := pcache.MustWrap(s, "gc/kept", func(_ context.Context, n int) ([]byte, error) {
		return bytes.Repeat([]byte{byte(n + 100)}, 100<<10), nil
	})
	for n := range 3 {
		mustCall(t, f, ctx, n)
		mustCall(t, other, ctx, n)
		mustCall(t, keep, ctx, n)
	}
	clock.Advance(30 * time.Minute)
	mustCall(t, f, ctx, 3) // stored later: not expired yet at the gc below
	clock.Advance(31 * time.Minute)
	rep, err := s.GC(ctx, pcache.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.EntriesEvicted != 3 || rep.BytesRemoved < 3*100<<10 {
		t.Fatalf("gc: %+v, want the 3 expired entries dropped and their objects freed", rep)
	}
	for n := range 3 {
		if ok, err := other.Contains(ctx, n); err != nil || !ok {
			t.Fatalf("the other result type's entry %d is gone: %v", n, err)
		}
		if ok, err := keep.Contains(ctx, n); err != nil || !ok {
			t.Fatalf("the entry %d of a function without Expire is gone: %v", n, err)
		}
	}
	if ok, err := f.Contains(ctx, 3); err != nil || !ok {
		t.Fatalf("the entry not expired yet is gone: %v", err)
	}
}
