package cas

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/testutil"
)

// Issue 26, item 4: an unsealed pack of empty records (37 bytes each) is
// scanned into memory by every reader; the scan is bounded per pack and in
// all, and the objects past the bound are misses.
// Not parallel: it sets the package's maxMemRecords.
func TestUnsealedPackScanIsBounded(t *testing.T) {
	defer func(a, b int) { maxUnsealedRecords, maxMemRecords = a, b }(maxUnsealedRecords, maxMemRecords)
	maxUnsealedRecords, maxMemRecords = 1000, 2500
	s, _ := newStore(t)
	if err := os.MkdirAll(s.d.Packs(), 0o777); err != nil {
		t.Fatal(err)
	}
	var first, late ID
	for p := 0; p < 4; p++ {
		b := append([]byte(nil), packMagic[:]...)
		for i := 0; i < 3000; i++ {
			var id ID
			binary.LittleEndian.PutUint64(id[:], uint64(p<<32|i))
			if p == 0 && i == 0 {
				first = id
			}
			if p == 0 && i == 2000 {
				late = id
			}
			b = appendRecord(b, id, nil) // claims id holds nothing: never served (hash mismatch)
		}
		must(t, os.WriteFile(filepath.Join(s.d.Packs(), layout.PackName("planted."+string(rune('a'+p)))), b, 0o644))
	}
	s.packs.refresh()
	s.packs.mu.RLock()
	n := len(s.packs.mem)
	s.packs.mu.RUnlock()
	if n > maxMemRecords {
		t.Fatalf("%d records held from unsealed packs, bound %d", n, maxMemRecords)
	}
	if _, ok := s.packs.find(late); ok {
		t.Fatal("a record past the per-pack bound was read")
	}
	if l, ok := s.packs.find(first); ok {
		l.p.release()
	}
	// A lie is never served, bounded or not.
	if _, err := s.Get(first, -1); err == nil {
		t.Fatal("served an object whose bytes do not hash to its ID")
	}
	// The store still works.
	id := mustPut(t, s, []byte("after the planted packs"))
	if b, err := s.Get(id, -1); err != nil || string(b) != "after the planted packs" {
		t.Fatalf("Get after planted packs: %q, %v", b, err)
	}
}

// Issue 26, items 4 and 8: a sparse 1 TiB object (a record may claim that
// size) is corrupt before anything of its size is allocated or hashed; a
// hard link at an object's path is replaced, never chmodded.
// Not parallel: its allocation bound reads what the whole process allocates.
func TestPlantedObjects(t *testing.T) {
	s, _ := newStore(t)
	b := testutil.Bytes(1, 200<<10) // a loose object
	id := Sum(b)
	path := s.Path(id)
	must(t, os.MkdirAll(filepath.Dir(path), 0o777))
	f, err := os.Create(path)
	must(t, err)
	f.Close()
	if err := os.Truncate(path, 1<<40); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	var gerr, verr error
	alloc := testutil.Allocated(func() {
		_, gerr = s.Get(id, 1<<40)
		verr = s.Verify(id)
	})
	if !errors.Is(gerr, ErrCorrupt) || !errors.Is(verr, ErrCorrupt) {
		t.Fatalf("sparse object: Get %v, Verify %v; want ErrCorrupt", gerr, verr)
	}
	if alloc > 16<<20 {
		t.Fatalf("%d MiB allocated for a sparse object", alloc>>20)
	}

	// A hard link to a group-only file outside, at the object's path.
	must(t, os.Remove(path))
	outside := filepath.Join(s.d.Root(), "..", "outside-"+filepath.Base(s.d.Root()))
	must(t, os.WriteFile(outside, []byte("secret"), 0o640))
	must(t, os.Chmod(outside, 0o640))
	t.Cleanup(func() { os.Remove(outside) })
	if err := os.Link(outside, path); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	if got := mustPut(t, s, b); got != id {
		t.Fatal("wrong ID")
	}
	fi, err := os.Stat(outside)
	must(t, err)
	if fi.Mode().Perm() != 0o640 || fi.Size() != 6 {
		t.Fatalf("the linked file became %v, %d bytes", fi.Mode().Perm(), fi.Size())
	}
	if got, err := s.Get(id, int64(len(b))); err != nil || len(got) != len(b) {
		t.Fatalf("Get after replacing the link: %v", err)
	}
}
