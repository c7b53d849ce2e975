package cas

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/testutil"
)

// sealedPack writes n small objects into one pack, seals it (Close) and
// returns the pack's path and its records in file order.
func sealedPack(t *testing.T, dir string, n int) (string, []PackedObject) {
	t.Helper()
	s, err := Open(layout.New(dir), Options{})
	must(t, err)
	for i := 0; i < n; i++ {
		_, err := s.Put(small(i))
		must(t, err)
	}
	must(t, s.Close())
	packs, idxs := packFiles(t, dir)
	if len(packs) != 1 || len(idxs) != 1 {
		t.Fatalf("want one sealed pack, have %v %v", packs, idxs)
	}
	pis, err := s.ListPacks(nil)
	must(t, err)
	if len(pis[0].Objects) != n || pis[0].Problem != "" {
		t.Fatalf("fresh pack: %+v", pis[0])
	}
	return packs[0], pis[0].Objects
}

// damagePack applies fn to the bytes of the file at path (made writable
// first: packs are read-only once sealed).
func damagePack(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	must(t, os.Chmod(path, 0o644))
	must(t, os.WriteFile(path, fn(b), 0o444))
}

// packDamages are the ways a sealed pack of 50 records is damaged in
// these tests, and the records each costs.
func packDamages(recs []PackedObject) []struct {
	name string
	idx  bool // the damage is to the index, not the pack
	fn   func([]byte) []byte
	lost map[int]bool
} {
	flip := func(off int64, mask byte) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= mask; return b }
	}
	sizeAt := func(i int) int64 { return recs[i].Offset + 33 }
	return []struct {
		name string
		idx  bool
		fn   func([]byte) []byte
		lost map[int]bool
	}{
		{"a record's bytes", false, flip(recs[9].Offset+recHeaderSize+2, 0x10), map[int]bool{9: true}},
		{"a record's size field, low bit (the scan lands inside the next record)", false, flip(sizeAt(9), 0x01), map[int]bool{9: true}},
		{"a record's size field, a bit that skips many records", false, flip(sizeAt(9)+1, 0x04) /* +1 KiB */, map[int]bool{9: true}},
		{"a record's size field, a bit past the end", false, flip(sizeAt(9)+3, 0x40), map[int]bool{9: true}},
		{"the pack header's magic", false, flip(3, 0x01), nil},
		{"the pack header's version", false, flip(headerSize-1, 0x02), nil},
		{"the pack index", true, func(b []byte) []byte { b[len(b)/2] ^= 0x08; return b }, nil},
		{"a truncated pack", false, func(b []byte) []byte { return b[:recs[40].Offset+5] }, map[int]bool{40: true, 41: true, 42: true, 43: true, 44: true, 45: true, 46: true, 47: true, 48: true, 49: true}},
	}
}

// TestPackDamageCostsOnlyTheDamagedRecords: after each damage to a sealed
// pack, readers, ListPacks, Repack (gc) and SalvagePack (check -repair)
// lose only the records the damage hit; every object a reader served
// before maintenance is served after it.
func TestPackDamageCostsOnlyTheDamagedRecords(t *testing.T) {
	t.Parallel()
	const n = 50
	probe := t.TempDir()
	_, recs := sealedPack(t, probe, n)
	for _, tc := range packDamages(recs) {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pack, _ := sealedPack(t, dir, n)
			target := pack
			if tc.idx {
				target = filepath.Join(filepath.Dir(pack), layout.PackIndexName(filepath.Base(pack)))
			}
			damagePack(t, target, tc.fn)
			served := func(what string) map[int]bool {
				t.Helper()
				r := packStore(t, dir)
				got := map[int]bool{}
				for i := 0; i < n; i++ {
					b, err := r.Get(Sum(small(i)), -1)
					if err == nil && !bytes.Equal(b, small(i)) {
						t.Fatalf("%s: object %d served wrong bytes %q", what, i, b)
					}
					if err == nil {
						got[i] = true
					} else if !tc.lost[i] {
						t.Errorf("%s: object %d not served: %v", what, i, err)
					}
				}
				return got
			}
			before := served("after the damage")

			s := packStore(t, dir)
			pis, err := s.ListPacks(nil)
			must(t, err)
			listed := map[ID]bool{}
			for _, o := range pis[0].Objects {
				listed[o.ID] = true
			}
			for i := range before {
				if !listed[Sum(small(i))] {
					t.Errorf("ListPacks misses object %d, which readers serve", i)
				}
			}
			if pis[0].Problem == "" || pis[0].Damaged == "" {
				t.Errorf("ListPacks reports no damage: %+v", pis[0])
			}
			if !tc.idx && pis[0].Damaged != pack {
				t.Errorf("damage reported against %s, want the pack %s", pis[0].Damaged, pack)
			}

			// gc's repack must not delete what it could not copy.
			s.Repack(RepackOptions{Keep: func(ID) bool { return true }})
			afterRepack := served("after Repack")
			for i := range before {
				if !afterRepack[i] {
					t.Fatalf("Repack lost object %d", i)
				}
			}
			for _, pi := range listPacks(t, s) {
				if pi.Problem == "" {
					continue
				}
				if _, err := s.SalvagePack(pi.Name); err != nil {
					t.Fatalf("SalvagePack %s: %v", pi.Name, err)
				}
			}
			after := served("after SalvagePack")
			for i := range before {
				if !after[i] {
					t.Errorf("SalvagePack lost object %d", i)
				}
			}
			for _, pi := range listPacks(t, packStore(t, dir)) {
				if pi.Problem != "" || pi.Valid != pi.Size {
					t.Errorf("after salvage: %+v", pi)
				}
			}
		})
	}
}

func listPacks(t *testing.T, s *Store) []PackInfo {
	t.Helper()
	pis, err := s.ListPacks(nil)
	must(t, err)
	return pis
}

// TestGetRetryReleasesThePack: a read that finds a corrupt copy and
// retries with a good one in another pack leaves that pack's reference
// count as it found it (it used to leak one, so the pack was never
// unmapped).
func TestGetRetryReleasesThePack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pack, recs := sealedPack(t, dir, 3)
	// A second sealed pack holding the same objects, named to sort after
	// the first (readers search sealed packs in name order).
	b, err := os.ReadFile(pack)
	must(t, err)
	ib, err := os.ReadFile(filepath.Join(filepath.Dir(pack), layout.PackIndexName(filepath.Base(pack))))
	must(t, err)
	second := filepath.Join(filepath.Dir(pack), "zz"+filepath.Base(pack)[2:])
	if !layout.IsPackName(filepath.Base(second)) {
		t.Skipf("cannot name a second pack after %s", filepath.Base(pack))
	}
	must(t, os.WriteFile(second, b, 0o444))
	must(t, os.WriteFile(filepath.Join(filepath.Dir(second), layout.PackIndexName(filepath.Base(second))), ib, 0o444))
	damagePack(t, pack, func(b []byte) []byte { b[recs[1].Offset+recHeaderSize] ^= 1; return b })

	s := packStore(t, dir)
	got, err := s.Get(Sum(small(1)), -1)
	if err != nil || !bytes.Equal(got, small(1)) {
		t.Fatalf("Get: %q, %v", got, err)
	}
	s.packs.mu.RLock()
	defer s.packs.mu.RUnlock()
	for _, p := range s.packs.packs {
		if n := p.refs.Load(); n != 1 {
			t.Errorf("pack %s: %d references after the read, want 1 (the set's own)", p.name, n)
		}
	}
}

// TestResyncIsBounded: a planted pack of record-shaped garbage (a tag every
// 64 bytes, each size reaching exactly to the end, so every candidate
// passes the cheap test and must be hashed) costs a bounded scan: without
// the budget it would hash about 8 GiB.
func TestResyncIsBounded(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	data := testutil.Bytes(7, size)
	copy(data, packMagic[:])
	for q := headerSize; q+recHeaderSize <= size; q += 64 {
		data[q] = recTag
		binary.LittleEndian.PutUint32(data[q+33:], uint32(size-q-recHeaderSize))
	}
	end, gaps, err := scanResync(data, headerSize, size, func(ID, int64, uint32) {})
	if err != nil || len(gaps) != 0 {
		t.Fatalf("scanResync of garbage: end %d, gaps %v, %v", end, gaps, err)
	}
	budget := int64(4 * size)
	if _, ok, _ := resync(data, headerSize+1, size, &budget); ok || budget >= 0 {
		t.Fatalf("resync of garbage: found %v, budget left %d; want it spent", ok, budget)
	}
}
