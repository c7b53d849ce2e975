package pcache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pcache/pcache"
)

// TestHitRecordsItsUse: a hit of an entry last used hours ago records the
// use before the call returns, so gc by age keeps the entry: a gc in
// another Store while the Store that hit is still open (as a program that
// exits without closing leaves it), and a gc in the Store that hit.
func TestHitRecordsItsUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	f := func(_ context.Context, n int) (string, error) { return fmt.Sprint("result ", n), nil }
	past := func() time.Time { return time.Now().Add(-6 * time.Hour) }
	s := openStore(t, dir, pcache.WithClock(past))
	w := pcache.MustWrap(s, "use/f", f)
	for n := range 6 {
		mustCall(t, w, ctx, n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ageObjects(t, dir, past())
	hit := func(w *pcache.Func[int, string], n int) {
		t.Helper()
		if _, err := w.Call(pcache.ErrorOnMiss(ctx), n); err != nil {
			t.Fatalf("key %d: %v", n, err)
		}
	}
	gc := func(s *pcache.Store, evicted, kept int) {
		t.Helper()
		r, err := s.GC(ctx, pcache.GCOptions{OlderThan: 2 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if r.EntriesEvicted != evicted || r.EntriesKept != kept {
			t.Errorf("gc evicted %d and kept %d entries; want %d and %d", r.EntriesEvicted, r.EntriesKept, evicted, kept)
		}
	}

	// Keys 0 and 1 are used by a Store that is never closed.
	open := openStore(t, dir)
	hit(pcache.MustWrap(open, "use/f", f), 0)
	hit(pcache.MustWrap(open, "use/f", f), 1)
	// Key 2 is used by another, which then collects.
	other := openStore(t, dir)
	w = pcache.MustWrap(other, "use/f", f)
	hit(w, 2)
	gc(other, 3, 3)
	for n := range 6 {
		_, err := w.Call(pcache.ErrorOnMiss(ctx), n)
		if got, want := err == nil, n <= 2; got != want {
			t.Errorf("key %d after gc: served %v, want %v (%v)", n, got, want, err)
		}
		if err != nil && !errors.Is(err, pcache.ErrCacheMiss) {
			t.Errorf("key %d: %v", n, err)
		}
	}
}

// TestBatchHitsRecordTheirUses: a batch's hits of entries last used hours
// ago record their uses (written together) before the call returns, so a
// gc in another Store keeps them while the batch's Store is still open.
func TestBatchHitsRecordTheirUses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	f := func(_ context.Context, ns []int) ([]string, error) {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = fmt.Sprint("result ", n)
		}
		return out, nil
	}
	past := func() time.Time { return time.Now().Add(-6 * time.Hour) }
	const n, used = 300, 200 // more than one chunk of hits
	keys := make([]int, n)
	for i := range keys {
		keys[i] = i
	}
	s := openStore(t, dir, pcache.WithClock(past))
	if _, err := pcache.MustWrapBatch(s, "use/batch", f).Call(ctx, keys); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ageObjects(t, dir, past())
	open := openStore(t, dir) // never closed before the gc
	if _, err := pcache.MustWrapBatch(open, "use/batch", f).Call(pcache.ErrorOnMiss(ctx), keys[:used]); err != nil {
		t.Fatal(err)
	}
	r, err := openStore(t, dir).GC(ctx, pcache.GCOptions{OlderThan: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if r.EntriesEvicted != n-used || r.EntriesKept != used {
		t.Errorf("gc evicted %d and kept %d entries; want %d and %d", r.EntriesEvicted, r.EntriesKept, n-used, used)
	}
}

// ageObjects dates the files under dir's objects back to when, as if the
// fill had written them then (gc counts a newer object as a use).
func ageObjects(t *testing.T, dir string, when time.Time) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Chtimes(p, when, when)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
