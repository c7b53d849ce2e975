package pcache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// counter is a function whose result can be changed between calls, and
// that counts its computations.
type counter struct {
	computes atomic.Int64
	salt     atomic.Int64
}

func (c *counter) fn(_ context.Context, n int) (string, error) {
	c.computes.Add(1)
	return fmt.Sprintf("%d/%d", n, c.salt.Load()), nil
}

// TestModesFromEnvironment: every PCACHE_MODE value, set before Open,
// behaves as documented on a cache that holds key 1 and not key 2.
func TestModesFromEnvironment(t *testing.T) {
	cases := []struct {
		mode string
		// what calls of key 1 (stored) and key 2 (not stored) do, then
		// whether key 2 is stored afterwards
		hit1Computes, miss2Computes int64
		miss2Err                    error
		stores2                     bool
	}{
		{"", 0, 1, nil, true},
		{"off", 1, 1, nil, false},
		{"readonly", 0, 1, nil, false},
		{"error-on-miss", 0, 0, pcache.ErrCacheMiss, false},
		{"refresh", 1, 1, nil, true},
		{"verify", 1, 1, nil, true},
		{"VERIFY", 1, 1, nil, true}, // case does not matter
	}
	for _, tc := range cases {
		t.Run("PCACHE_MODE="+tc.mode, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			var c counter
			seed := openStore(t, dir)
			mustCall(t, pcache.MustWrap(seed, "modes/f", c.fn), ctx, 1)
			seed.Close()

			t.Setenv("PCACHE_MODE", tc.mode)
			s := openStore(t, dir)
			f := pcache.MustWrap(s, "modes/f", c.fn)
			c.computes.Store(0)
			if got, err := f.Call(ctx, 1); err != nil || got != "1/0" {
				t.Fatalf("key 1: %q, %v", got, err)
			}
			if n := c.computes.Load(); n != tc.hit1Computes {
				t.Fatalf("key 1 (stored) computed %d times, want %d", n, tc.hit1Computes)
			}
			c.computes.Store(0)
			got, err := f.Call(ctx, 2)
			if !errors.Is(err, tc.miss2Err) || (err == nil && got != "2/0") {
				t.Fatalf("key 2: %q, %v; want error %v", got, err, tc.miss2Err)
			}
			if n := c.computes.Load(); n != tc.miss2Computes {
				t.Fatalf("key 2 (missing) computed %d times, want %d", n, tc.miss2Computes)
			}
			ok, err := f.Contains(ctx, 2)
			if err != nil || ok != tc.stores2 {
				t.Fatalf("key 2 stored: %v, %v; want %v", ok, err, tc.stores2)
			}
		})
	}
	t.Run("PCACHE_MODE=bogus", func(t *testing.T) {
		t.Setenv("PCACHE_MODE", "sometimes")
		_, err := pcache.Open(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "PCACHE_MODE") || strings.Count(err.Error(), "pcache:") != 1 {
			t.Fatalf("Open with a bad mode: %v", err)
		}
	})
}

// TestVerifyCatchesChangedResults: verify mode reports a function whose
// result changed under a stored entry, naming the function and key.
func TestVerifyCatchesChangedResults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var c counter
	s := openStore(t, t.TempDir(), pcache.DefaultMode(pcache.ModeVerify))
	f := pcache.MustWrap(s, "modes/verify", c.fn)
	mustCall(t, f, ctx, 7) // a miss: stored
	if got, err := f.Call(ctx, 7); err != nil || got != "7/0" {
		t.Fatalf("a deterministic function under verify: %q, %v", got, err)
	}
	c.salt.Store(1) // the code changed
	_, err := f.Call(ctx, 7)
	key, _ := f.Key(7)
	if !errors.Is(err, pcache.ErrVerifyMismatch) || !strings.Contains(err.Error(), "modes/verify") || !strings.Contains(err.Error(), key[:12]) {
		t.Fatalf("verify after the result changed: %v; want ErrVerifyMismatch naming the function and key %s", err, key[:12])
	}
	// The stored result is untouched; refresh replaces it.
	if got := mustCall(t, f, pcache.WithMode(ctx, pcache.ModeDefault), 7); got != "7/0" {
		t.Fatalf("after a mismatch the stored result is %q", got)
	}
	mustCall(t, f, pcache.WithMode(ctx, pcache.ModeRefresh), 7)
	if got := mustCall(t, f, ctx, 7); got != "7/1" {
		t.Fatalf("after refresh, verify serves %q", got)
	}
}

func TestVerifyComparesOutFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out.txt")
	var salt atomic.Int64
	s := openStore(t, t.TempDir(), pcache.DefaultMode(pcache.ModeVerify))
	f := pcache.MustWrap(s, "modes/verify-out", func(_ context.Context, a shareArgs) (int, error) {
		return a.N, os.WriteFile(a.Out, []byte(fmt.Sprint("out ", a.N, salt.Load())), 0o644)
	})
	mustCall(t, f, ctx, shareArgs{N: 1, Out: out})
	mustCall(t, f, ctx, shareArgs{N: 1, Out: out})
	salt.Store(1)
	if _, err := f.Call(ctx, shareArgs{N: 1, Out: out}); !errors.Is(err, pcache.ErrVerifyMismatch) || !strings.Contains(err.Error(), `out file "Out"`) {
		t.Fatalf("an out file that changed: %v", err)
	}
}

func TestBatchModes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var computed atomic.Int64
	var salt atomic.Int64
	s := openStore(t, t.TempDir())
	f := pcache.MustWrapBatch(s, "modes/batch", func(_ context.Context, ns []int) ([]string, error) {
		computed.Add(int64(len(ns)))
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = fmt.Sprint(n, "/", salt.Load())
		}
		return out, nil
	})
	call := func(md pcache.Mode, ns ...int) ([]string, error) {
		computed.Store(0)
		return f.Call(pcache.WithMode(ctx, md), ns)
	}
	if _, err := call(pcache.ModeReadOnly, 1, 2); err != nil || computed.Load() != 2 {
		t.Fatalf("readonly: %v, %d computed", err, computed.Load())
	}
	if in, _ := f.Contains(ctx, []int{1, 2}); in[0] || in[1] {
		t.Fatalf("readonly stored: %v", in)
	}
	call(pcache.ModeDefault, 1, 2)
	if in, err := f.Contains(ctx, []int{1, 3, 2}); err != nil || !in[0] || in[1] || !in[2] {
		t.Fatalf("Contains = %v, %v", in, err)
	}
	if _, err := call(pcache.ModeVerify, 1, 2, 3); err != nil || computed.Load() != 3 {
		t.Fatalf("verify: %v, %d computed (want the 2 hits recomputed and the miss)", err, computed.Load())
	}
	salt.Store(1)
	if _, err := call(pcache.ModeVerify, 1, 4); !errors.Is(err, pcache.ErrVerifyMismatch) {
		t.Fatalf("verify after a change: %v", err)
	}
	if got, err := call(pcache.ModeRefresh, 1, 2, 1); err != nil || strings.Join(got, ",") != "1/1,2/1,1/1" || computed.Load() != 2 {
		t.Fatalf("refresh: %v, %v, %d computed", got, err, computed.Load())
	}
	if got, _ := call(pcache.ModeDefault, 1, 2); strings.Join(got, ",") != "1/1,2/1" || computed.Load() != 0 {
		t.Fatalf("after refresh: %v (%d computed)", got, computed.Load())
	}
	if _, err := call(pcache.ModeErrorOnMiss, 1, 99); !errors.Is(err, pcache.ErrCacheMiss) || computed.Load() != 0 {
		t.Fatalf("error-on-miss: %v", err)
	}
}

// TestModePrecedence: the mode given to a context last wins; a context
// without one uses the Store's.
func TestModePrecedence(t *testing.T) {
	ctx := context.Background()
	var c counter
	t.Setenv("PCACHE_MODE", "error-on-miss") // overridden by the option below
	s := openStore(t, t.TempDir(), pcache.DefaultMode(pcache.ModeOff))
	f := pcache.MustWrap(s, "modes/precedence", c.fn)
	mustCall(t, f, ctx, 1) // Store mode off: computed, not stored
	if ok, _ := f.Contains(ctx, 1); ok {
		t.Fatal("DefaultMode(ModeOff) stored a result")
	}
	if _, err := f.Call(pcache.ErrorOnMiss(pcache.NoCache(ctx)), 1); !errors.Is(err, pcache.ErrCacheMiss) {
		t.Fatalf("ErrorOnMiss(NoCache(ctx)): %v; want the outer ErrorOnMiss", err)
	}
	if _, err := f.Call(pcache.NoCache(pcache.ErrorOnMiss(ctx)), 1); err != nil {
		t.Fatalf("NoCache(ErrorOnMiss(ctx)): %v; want the outer NoCache", err)
	}
	mustCall(t, f, pcache.WithMode(ctx, pcache.ModeDefault), 1)
	if ok, _ := f.Contains(ctx, 1); !ok {
		t.Fatal("WithMode(ModeDefault) did not store")
	}
}

// TestModeOffAllocatesNothing: under ModeOff a call is the function and
// its counters, nothing more (no sink, no key).
func TestModeOffAllocatesNothing(t *testing.T) {
	s := openStore(t, t.TempDir())
	f := pcache.MustWrap(s, "modes/off-allocs", func(_ context.Context, a struct{ X, Y int }) (int, error) {
		return a.X * a.Y, nil
	})
	ctx := pcache.NoCache(context.Background())
	allocs := testing.AllocsPerRun(100, func() {
		if got, err := f.Call(ctx, struct{ X, Y int }{6, 7}); got != 42 || err != nil {
			t.Fatalf("%d, %v", got, err)
		}
	})
	if allocs > 0 && !testutil.Race {
		t.Fatalf("a call under ModeOff allocates %.1f objects, want none", allocs)
	}
	if st := f.Stats(); st.Computes != 101 || st.Hits != 0 {
		t.Fatalf("stats %+v; want 101 computations (AllocsPerRun's warm-up and 100 runs), no hits", st)
	}
}
