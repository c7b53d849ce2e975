package cas

import (
	"bytes"
	"testing"
)

// TestPackFence: a large pack's index gets its fence after fenceAfter finds
// of a reading process, and every object is found through it, absent ones
// are not; a small pack never gets one.
func TestPackFence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		objects   int
		wantFence bool
	}{
		{"large pack", fenceMinCount + 300, true},
		{"small pack", 500, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			w := packStore(t, dir)
			bs := make([][]byte, tt.objects)
			for i := range bs {
				bs[i] = small(i)
			}
			ids, err := w.PutBatch(bs)
			must(t, err)
			must(t, w.Close()) // seals the pack: an index

			r := packStore(t, dir)
			get := func(i int) {
				t.Helper()
				if got, err := r.Get(ids[i], int64(len(bs[i]))); err != nil || !bytes.Equal(got, bs[i]) {
					t.Fatalf("Get(object %d): %q, %v", i, got, err)
				}
			}
			for i := range fenceAfter {
				get(i)
			}
			r.packs.fences.Wait()
			r.packs.mu.RLock()
			sealed := r.packs.sealed
			r.packs.mu.RUnlock()
			if len(sealed) != 1 {
				t.Fatalf("%d sealed packs, want 1", len(sealed))
			}
			if f := sealed[0].fence.Load(); (f != nil) != tt.wantFence {
				t.Fatalf("fence %v, want one: %v", f != nil, tt.wantFence)
			}
			for i := range bs {
				get(i)
			}
			for i := range 1000 {
				if ok, err := r.Has(Sum(small(tt.objects + i))); ok || err != nil {
					t.Fatalf("absent object %d: found %v, %v", i, ok, err)
				}
			}
		})
	}
}
