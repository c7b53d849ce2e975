package cas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pcache/pcache/internal/layout"
)

// packStore opens a store with packs (the default) in dir.
func packStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(layout.New(dir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func small(i int) []byte { return []byte(fmt.Sprintf("small object %d", i)) }

func packFiles(t *testing.T, dir string) (packs, idxs []string) {
	t.Helper()
	packs, _ = filepath.Glob(filepath.Join(dir, "objects", "pack", "*"+layout.PackExt))
	idxs, _ = filepath.Glob(filepath.Join(dir, "objects", "pack", "*"+layout.PackIndexExt))
	return packs, idxs
}

func TestPackedObjects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := packStore(t, dir)
	var ids []ID
	for i := 0; i < 50; i++ {
		id, err := s.Put(small(i))
		must(t, err)
		ids = append(ids, id)
	}
	big := bytes.Repeat([]byte("L"), DefaultPackLimit)
	bigID, err := s.Put(big)
	must(t, err)
	// Small objects are in one pack, not loose; the big one is loose.
	loose := 0
	must(t, s.walkObjects(func(ID, os.FileInfo) error { loose++; return nil }))
	if loose != 1 {
		t.Fatalf("%d loose objects, want 1 (the big one)", loose)
	}
	if packs, _ := packFiles(t, dir); len(packs) != 1 {
		t.Fatalf("packs %v, want one", packs)
	}
	for i, id := range ids {
		if b, err := s.Get(id, int64(len(small(i)))); err != nil || !bytes.Equal(b, small(i)) {
			t.Fatalf("Get(%d) = %q, %v", i, b, err)
		}
		if ok, err := s.Has(id); !ok || err != nil {
			t.Fatalf("Has(%d) = %v, %v", i, ok, err)
		}
		if n, err := s.Size(id); n != int64(len(small(i))) || err != nil {
			t.Fatalf("Size(%d) = %d, %v", i, n, err)
		}
		must(t, s.Verify(id))
	}
	if b, err := s.Get(bigID, int64(len(big))); err != nil || !bytes.Equal(b, big) {
		t.Fatalf("big object: %v", err)
	}
	// Streams: a small one goes to the pack, read back through Open and CopyTo.
	id, n, err := s.PutReader(strings.NewReader("streamed small"))
	must(t, err)
	r, err := s.Open(id)
	must(t, err)
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != "streamed small" || n != 14 || r.Size() != 14 {
		t.Fatalf("Open of a packed object: %q, %v", got, err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "dst"))
	must(t, err)
	if n, err := s.CopyTo(id, f); err != nil || n != 14 {
		t.Fatalf("CopyTo: %d, %v", n, err)
	}
	f.Close()
	// A duplicate Put writes nothing.
	packs, _ := packFiles(t, dir)
	before, _ := os.Stat(packs[0])
	if _, err := s.Put(small(3)); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(packs[0]); after.Size() != before.Size() {
		t.Fatal("a duplicate Put appended to the pack")
	}
	// Another store (process) sees the live, unsealed pack; after Close the
	// pack is sealed and a fresh store finds objects through the index.
	other := packStore(t, dir)
	if b, err := other.Get(ids[7], -1); err != nil || !bytes.Equal(b, small(7)) {
		t.Fatalf("another store reading a live pack: %q, %v", b, err)
	}
	must(t, s.Close())
	if _, idxs := packFiles(t, dir); len(idxs) != 1 {
		t.Fatalf("indexes after Close: %v", idxs)
	}
	fresh := packStore(t, dir)
	for i, id := range ids {
		if b, err := fresh.Get(id, -1); err != nil || !bytes.Equal(b, small(i)) {
			t.Fatalf("after sealing, Get(%d) = %q, %v", i, b, err)
		}
	}
	if _, err := fresh.Get(Sum([]byte("never stored")), -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent object: %v", err)
	}
}

func TestPutBatchIsOneAppend(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := packStore(t, dir)
	var bs [][]byte
	for i := 0; i < 100; i++ {
		bs = append(bs, small(i))
	}
	bs = append(bs, small(5), bytes.Repeat([]byte("x"), DefaultPackLimit+1))
	ids, err := s.PutBatch(bs)
	must(t, err)
	for i, b := range bs {
		if ids[i] != Sum(b) {
			t.Fatalf("id %d wrong", i)
		}
		if got, err := s.Get(ids[i], int64(len(b))); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("Get(%d): %v", i, err)
		}
	}
	pi, err := s.ListPacks(nil)
	must(t, err)
	if len(pi) != 1 || len(pi[0].Objects) != 100 {
		t.Fatalf("packs %+v, want one of 100 objects (the duplicate stored once)", pi)
	}
}

// A torn tail (a crash mid-append) is ignored; damage inside a record is a
// miss, and a later Put of the same bytes stores a good copy.
func TestPackDamage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := packStore(t, dir)
	for i := 0; i < 10; i++ {
		_, err := s.Put(small(i))
		must(t, err)
	}
	packs, _ := packFiles(t, dir)
	// Simulate a crash: the writer is gone, its pack unsealed, its last
	// append torn.
	s.packs.wmu.Lock()
	s.packs.w.f.Close()
	s.packs.w.lock.Release()
	s.packs.w = nil
	s.packs.wmu.Unlock()
	rec := appendRecord(nil, Sum([]byte("torn")), []byte("torn"))
	f, err := os.OpenFile(packs[0], os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	f.Write(rec[:len(rec)-2])
	f.Close()
	r := packStore(t, dir)
	for i := 0; i < 10; i++ {
		if b, err := r.Get(Sum(small(i)), -1); err != nil || !bytes.Equal(b, small(i)) {
			t.Fatalf("object %d before a torn tail: %v", i, err)
		}
	}
	if _, err := r.Get(Sum([]byte("torn")), -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the torn record: %v, want not found", err)
	}
	pi, _ := r.ListPacks(nil)
	if len(pi) != 1 || pi[0].Valid >= pi[0].Size || pi[0].Live {
		t.Fatalf("ListPacks: %+v; want a dead pack with a torn tail", pi)
	}

	// Flip a byte of object 4's bytes.
	o := pi[0].Objects[4]
	b, _ := os.ReadFile(packs[0])
	b[o.Offset+recHeaderSize] ^= 0x40
	os.Chmod(packs[0], 0o644)
	must(t, os.WriteFile(packs[0], b, 0o644))
	r2 := packStore(t, dir)
	if _, err := r2.Get(Sum(small(4)), -1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a damaged packed object: %v, want ErrCorrupt", err)
	}
	if err := r2.VerifyPacked(pi[0].Name, o); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("VerifyPacked: %v", err)
	}
	if _, err := r2.Put(small(4)); err != nil { // not deduplicated against the bad copy
		t.Fatal(err)
	}
	if got, err := r2.Get(Sum(small(4)), -1); err != nil || !bytes.Equal(got, small(4)) {
		t.Fatalf("after a fresh Put: %q, %v", got, err)
	}
	// A pack truncated under a reader's mapping costs a miss, not the process.
	r3 := packStore(t, dir)
	if _, err := r3.Get(Sum(small(9)), -1); err != nil {
		t.Fatal(err)
	}
	must(t, os.Truncate(packs[0], headerSize))
	if _, err := r3.Get(Sum(small(9)), -1); err == nil {
		t.Fatal("a truncated pack served an object")
	}
}

// Not parallel: it sets the package's maxPack.
func TestPackRotationAndRepack(t *testing.T) {
	defer func(m int64) { maxPack = m }(maxPack)
	maxPack = 4 << 10
	dir := t.TempDir()
	s := packStore(t, dir)
	want := map[ID][]byte{}
	for i := 0; i < 400; i++ {
		id, err := s.Put(small(i))
		must(t, err)
		want[id] = small(i)
	}
	must(t, s.Close())
	packs, idxs := packFiles(t, dir)
	if len(packs) < 4 || len(idxs) != len(packs) {
		t.Fatalf("%d packs, %d indexes: rotation at maxPack should seal several", len(packs), len(idxs))
	}
	// Merge (no Keep): every object kept, fewer packs.
	maxPack = 64 << 20
	r := packStore(t, dir)
	rep, err := r.Repack(RepackOptions{})
	must(t, err)
	if rep.PacksIn != len(packs) || rep.PacksOut != 1 || rep.ObjectsKept != 400 || rep.ObjectsDropped != 0 {
		t.Fatalf("merge: %+v", rep)
	}
	for id, b := range want {
		if got, err := r.Get(id, -1); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("after merge: %v", err)
		}
	}
	// Prune: keep the even objects.
	keep := func(id ID) bool {
		b := want[id]
		var i int
		fmt.Sscanf(string(b), "small object %d", &i)
		return i%2 == 0
	}
	rep, err = r.Repack(RepackOptions{Keep: keep})
	must(t, err)
	if rep.ObjectsKept != 200 || rep.ObjectsDropped != 200 {
		t.Fatalf("prune: %+v", rep)
	}
	fresh := packStore(t, dir)
	for id, b := range want {
		got, err := fresh.Get(id, -1)
		if keep(id) != (err == nil) || (err == nil && !bytes.Equal(got, b)) {
			t.Fatalf("after prune: kept=%v, %v", keep(id), err)
		}
	}
	if packs, idxs := packFiles(t, dir); len(packs) != 1 || len(idxs) != 1 {
		t.Fatalf("after prune: %v %v", packs, idxs)
	}
}

// Objects of a cache written before packs (loose small files) are found
// and never stored a second time.
func TestLooseSmallObjectsStillServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old, err := Open(layout.New(dir), Options{PackLimit: -1})
	must(t, err)
	id, err := old.Put(small(1))
	must(t, err)
	old.Close()
	s := packStore(t, dir)
	if b, err := s.Get(id, -1); err != nil || !bytes.Equal(b, small(1)) {
		t.Fatalf("loose small object: %v", err)
	}
	if _, err := s.Put(small(1)); err != nil {
		t.Fatal(err)
	}
	if packs, _ := packFiles(t, dir); len(packs) != 0 {
		t.Fatalf("a loose object was stored again in a pack: %v", packs)
	}
}

// TestReadsDuringMerge: objects of packs that another store merges away
// between a reader's listing of the pack directory and its opening of what
// it listed are still found (the reader lists the directory again).
// Not parallel: it sets the package's afterList hook.
func TestReadsDuringMerge(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	var ids []ID
	for w := range 8 { // dead writers' small packs
		s, err := Open(layout.New(dir), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			ids = append(ids, mustPut(t, s, small(w*1000+i)))
		}
		s.Close()
	}
	merger, err := Open(layout.New(dir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer merger.Close()
	reader, err := Open(layout.New(dir), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	merged := false
	afterList = func() {
		if !merged {
			merged = true
			if rep, err := merger.Repack(RepackOptions{}); err != nil || rep.PacksIn == 0 {
				t.Errorf("merge: %+v, %v", rep, err)
			}
		}
	}
	defer func() { afterList = nil }()
	for _, id := range ids {
		if _, err := reader.Get(id, -1); err != nil {
			t.Fatalf("object %s merged away under the reader: %v", id.String()[:12], err)
		}
	}
	if !merged {
		t.Fatal("the reader never listed the packs: the test proves nothing")
	}
}

// TestPackModes: a growing pack is its owner's to write through the
// descriptor that created it (so any user can store, not only root), one
// pack serves many puts, and a sealed pack is read-only like every object.
func TestPackModes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(layout.New(dir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := s.Put(small(i)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	packs, _ := packFiles(t, dir)
	if len(packs) != 1 {
		t.Fatalf("20 puts left %d packs, want 1", len(packs))
	}
	fi, err := os.Stat(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o200 == 0 {
		t.Fatalf("growing pack has mode %v: its owner cannot write it", fi.Mode())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err = os.Stat(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o222 != 0 {
		t.Fatalf("sealed pack has mode %v, want read-only", fi.Mode())
	}
}

// TestConcurrentFirstReads: two goroutines of a fresh Store read packed
// objects at once; the one whose listing of the packs comes second finds
// them already added by the other's (its own changes nothing) and must
// still look again, not report the object missing. Found by
// BenchmarkBatch/hits-after-reopen, which failed one run in four with one
// element of 10,000 "missing". Not parallel: it sets the afterList hook.
func TestConcurrentFirstReads(t *testing.T) {
	dir := t.TempDir()
	w := packStore(t, dir)
	ids, err := w.PutBatch([][]byte{small(1), small(2)})
	must(t, err)
	must(t, w.Close())

	tests := []struct {
		name string
		read func(s *Store, id ID) error
	}{
		{"Get", func(s *Store, id ID) error { _, err := s.Get(id, -1); return err }},
		{"Has", func(s *Store, id ID) error {
			if ok, err := s.Has(id); !ok || err != nil {
				return fmt.Errorf("Has: %v, %v", ok, err)
			}
			return nil
		}},
		{"Size", func(s *Store, id ID) error { _, err := s.Size(id); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := packStore(t, dir)
			listing, release := make(chan struct{}), make(chan struct{})
			var first atomic.Bool
			afterList = func() {
				if first.CompareAndSwap(false, true) { // the first listing waits for the whole second read
					close(listing)
					<-release
				}
			}
			defer func() { afterList = nil }()
			slow := make(chan error)
			go func() { slow <- tt.read(r, ids[0]) }()
			<-listing
			if err := tt.read(r, ids[1]); err != nil {
				t.Fatalf("the second reader: %v", err)
			}
			close(release)
			if err := <-slow; err != nil {
				t.Fatalf("the reader whose listing came second: %v", err)
			}
		})
	}
}
