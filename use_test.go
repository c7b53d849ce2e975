package pcache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pcache/pcache"
)

// TestHitRecordsItsUseLater: a hit of an entry last used hours ago writes
// no file on the call's path, yet gc by age sees the use: in the same
// process (GC writes the uses first) and in the next (Close writes them).
func TestHitRecordsItsUseLater(t *testing.T) {
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
	// The objects too were written then (gc counts a newer object as a use).
	err := filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			err = os.Chtimes(p, past(), past())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	hit := func(w *pcache.Func[int, string], n int) {
		t.Helper()
		before := manifestFiles(t, dir)
		if _, err := w.Call(pcache.ErrorOnMiss(ctx), n); err != nil {
			t.Fatalf("key %d: %v", n, err)
		}
		if after := manifestFiles(t, dir); !slices.Equal(before, after) {
			t.Fatalf("the hit of key %d wrote to the manifests: %v, before %v", n, after, before)
		}
	}

	// Keys 0 and 1 are used in one process, which then closes.
	s = openStore(t, dir)
	w = pcache.MustWrap(s, "use/f", f)
	hit(w, 0)
	hit(w, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Key 2 is used in this one, which then collects entries unused for 2h.
	s = openStore(t, dir)
	w = pcache.MustWrap(s, "use/f", f)
	hit(w, 2)
	r, err := s.GC(ctx, pcache.GCOptions{OlderThan: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if r.EntriesEvicted != 3 || r.EntriesKept != 3 {
		t.Errorf("gc evicted %d and kept %d entries; want keys 3-5 evicted, 0-2 (just used) kept", r.EntriesEvicted, r.EntriesKept)
	}
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

// manifestFiles lists the files under dir's manifests, sorted.
func manifestFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, "manifests"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
