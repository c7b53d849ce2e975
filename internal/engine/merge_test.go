package engine

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
)

// TestOpenMergesNothingBeforeAWrite: the packs earlier processes left are
// merged from a Store's first write on, not at Open, so a process that
// closes before it wrote anything (one that only hit) waits for no merge:
// the packs are still there.
func TestOpenMergesNothingBeforeAWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := layout.New(dir).WriteMarker(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // more small dead packs than a merge needs
		s, err := cas.Open(layout.New(dir), cas.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put([]byte(fmt.Sprint("object ", i))); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	packs := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*"+layout.PackExt))
		return len(m)
	}
	if packs() != 5 {
		t.Fatalf("%d packs, want 5", packs())
	}
	e, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if packs() != 5 {
		t.Fatalf("Open and Close merged: %d packs, want the 5", packs())
	}
}
