package pcache_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pcache/pcache"
)

// TestGCFreesOwnPack: Store.GC beside this process's own writes frees what
// it evicts. The entries' small results sit in this process's pack, which a
// running writer's pack would keep whole; GC seals it first, so evicting
// every entry (MaxSize 1) frees its bytes, and the calls compute again.
// Without the seal, all 40 entries were tombstoned and 0 bytes freed.
func TestGCFreesOwnPack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts pcache.GCOptions
	}{
		{"max-size", pcache.GCOptions{MaxSize: 1}},
		{"forget-all", pcache.GCOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			var n atomic.Int64
			f := pcache.MustWrap(s, "gc/own", func(_ context.Context, i int) (string, error) {
				n.Add(1)
				return fmt.Sprintf("value %d padded to be worth keeping ................", i), nil
			})
			for i := 0; i < 40; i++ {
				mustCall(t, f, ctx, i)
			}
			if tc.opts.MaxSize == 0 {
				if err := f.ForgetAll(ctx); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := s.GC(ctx, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.opts.MaxSize > 0 && rep.EntriesEvicted != 40 {
				t.Errorf("evicted %d entries, want 40", rep.EntriesEvicted)
			}
			if rep.ObjectsRemoved < 40 || rep.BytesRemoved <= 0 {
				t.Errorf("gc freed %d objects (%d bytes), want the 40 results (kept: %q)", rep.ObjectsRemoved, rep.BytesRemoved, rep.Kept)
			}
			if len(rep.Kept) > 0 {
				t.Errorf("gc kept bytes in this process's own pack: %q", rep.Kept)
			}
			n.Store(0)
			for i := 0; i < 40; i++ {
				if got := mustCall(t, f, ctx, i); got != fmt.Sprintf("value %d padded to be worth keeping ................", i) {
					t.Fatalf("call %d after gc: %q", i, got)
				}
			}
			if n.Load() != 40 {
				t.Errorf("after gc, %d of 40 calls computed, want all", n.Load())
			}
			// And the cache checks clean with the writer still open.
			crep, err := s.Check(ctx, pcache.CheckOptions{})
			if err != nil || !crep.Clean {
				t.Fatalf("check after gc: %v %+v", err, crep)
			}
		})
	}
}
