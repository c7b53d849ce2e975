package cas

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLooseShardsLookedForAtFirstWrite: whether a cache holds loose
// objects below the pack limit (written before packs) is looked for when
// a write first needs it, not at Open (a process that only reads never
// lists objects/ for it): a loose copy that appears after Open still
// spares the write its packed copy.
func TestLooseShardsLookedForAtFirstWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := packStore(t, dir)
	b := small(7)
	id := Sum(b)
	must(t, os.MkdirAll(filepath.Dir(s.Path(id)), 0o777))
	must(t, os.WriteFile(s.Path(id), b, 0o444))
	mustPut(t, s, b)
	if packs, _ := packFiles(t, dir); len(packs) != 0 {
		t.Fatalf("packs %v: the object was packed although a loose copy was there", packs)
	}
}
