package pcache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/pcache/pcache"
)

// TestFuncAndBatchShareOnePolicy: under every mode, a call of a Func and a
// one-element call of a BatchFunc of the same name on the same keys give
// the same values and errors, count the same Stats and report the same
// sources to OnCall: one policy and one finish step serve both.
func TestFuncAndBatchShareOnePolicy(t *testing.T) {
	t.Parallel()
	modes := []pcache.Mode{pcache.ModeDefault, pcache.ModeOff, pcache.ModeReadOnly, pcache.ModeErrorOnMiss, pcache.ModeRefresh, pcache.ModeVerify}
	type outcome struct {
		values  string
		stats   pcache.Stats
		sources string
	}
	run := func(t *testing.T, md pcache.Mode, batch bool) outcome {
		s := openStore(t, t.TempDir())
		compute := func(n int) int { return n * 10 }
		one := pcache.MustWrap(s, "policy/f", func(_ context.Context, n int) (int, error) { return compute(n), nil })
		many := pcache.MustWrapBatch(s, "policy/f", func(_ context.Context, ns []int) ([]int, error) {
			out := make([]int, len(ns))
			for i, n := range ns {
				out[i] = compute(n)
			}
			return out, nil
		})
		mustCall(t, one, context.Background(), 1) // stored; 2 is not
		before := s.Stats()
		var mu sync.Mutex
		var o outcome
		ctx := pcache.OnCall(pcache.WithMode(context.Background(), md), func(i pcache.CallInfo) {
			mu.Lock()
			defer mu.Unlock()
			o.sources += fmt.Sprintf("%s/%v ", i.Source, i.Hit)
		})
		for _, n := range []int{1, 2} {
			var v int
			var err error
			if batch {
				var vs []int
				if vs, err = many.Call(ctx, []int{n}); err == nil {
					v = vs[0]
				}
			} else {
				v, err = one.Call(ctx, n)
			}
			o.values += fmt.Sprintf("%d:%d,%v ", n, v, errors.Is(err, pcache.ErrCacheMiss))
		}
		after := s.Stats()
		o.stats = pcache.Stats{Hits: after.Hits - before.Hits, Misses: after.Misses - before.Misses,
			Computes: after.Computes - before.Computes, Stores: after.Stores - before.Stores, Waits: after.Waits - before.Waits}
		return o
	}
	for _, md := range modes {
		t.Run(string(md)+"mode", func(t *testing.T) {
			f, b := run(t, md, false), run(t, md, true)
			if f != b {
				t.Fatalf("mode %q:\nFunc      %+v\nBatchFunc %+v", md, f, b)
			}
			if md != pcache.ModeOff && f.stats.Hits+f.stats.Misses != 2 {
				t.Fatalf("mode %q: %+v: every call is a hit or a miss", md, f)
			}
		})
	}
}
