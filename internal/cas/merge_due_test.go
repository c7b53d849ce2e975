package cas

import (
	"os"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/retire"
)

// TestMergeDue: the background merge a Store starts decides from
// the pack directory alone whether there is anything to do, so opening a
// cache whose packs are merged already reads no pack index (and Close
// waits for nothing); it finds each kind of work Repack does.
func TestMergeDue(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		at    time.Time
		want  bool
	}{
		{"empty", func(*testing.T, string) {}, now, false},
		{"fewer small packs than mergeMin", func(t *testing.T, dir string) { smallPacks(t, dir, mergeMin-1, 0) }, now, false},
		{"mergeMin small packs", func(t *testing.T, dir string) { smallPacks(t, dir, mergeMin, 0) }, now, true},
		{"a dead pack without its index", func(t *testing.T, dir string) {
			smallPacks(t, dir, 1, 0)
			_, idxs := packFiles(t, dir)
			must(t, os.Remove(idxs[0]))
		}, now, true},
		{"merged, retired inputs within their grace", func(t *testing.T, dir string) {
			smallPacks(t, dir, mergeMin, 0)
			_, err := packStore(t, dir).Repack(RepackOptions{})
			must(t, err)
		}, now, false},
		{"merged, retired inputs past their grace", func(t *testing.T, dir string) {
			smallPacks(t, dir, mergeMin, 0)
			_, err := packStore(t, dir).Repack(RepackOptions{})
			must(t, err)
		}, now.Add(retire.Grace + time.Minute), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			if got := packStore(t, dir).mergeDue(tc.at); got != tc.want {
				t.Errorf("mergeDue = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestMergeAfterClose: a background merge that has not begun when Close
// runs never begins (Close waits for none), and mergeMin small dead packs
// stay as they are; one that begins before Close is waited for.
func TestMergeAfterClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	smallPacks(t, dir, mergeMin, 0)
	s := packStore(t, dir)
	if !s.packs.beginMerge() {
		t.Fatal("a merge may not begin before Close")
	}
	s.packs.merging.Done()
	must(t, s.Close())
	if s.packs.beginMerge() {
		t.Fatal("a merge began after Close")
	}
	packs, _ := packFiles(t, dir)
	if len(packs) != mergeMin {
		t.Fatalf("%d packs after Close, want the %d left unmerged", len(packs), mergeMin)
	}
}
