package cas

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
)

// deletedPackMappings lists the mappings of this process of pack files
// under dir that were deleted.
func deletedPackMappings(t *testing.T, dir string) []string {
	t.Helper()
	fsutil.WaitUnmaps() // what closed Stores hand to the background is not the reader's
	var out []string
	for _, l := range packMappings(t, dir) {
		if strings.Contains(l, layout.PackExt) && strings.HasSuffix(l, "(deleted)") {
			out = append(out, l)
		}
	}
	return out
}

// Issue 21 item 8: a process that only serves hits lets go of the packs
// another Store (or process) merged or repacked away at its next hit, so
// the space they held is freed and gc cycles do not pin generations of
// them.
func TestHitOnlyReaderDropsDeletedPacks(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/maps")
	}
	for _, tc := range []struct {
		name     string
		readOnly bool
		keep     bool // gc's repack (with Keep) rather than a merge
		rounds   int
	}{
		{"merge", false, false, 1},
		{"gc repack", false, true, 1},
		{"read-only reader", true, false, 1},
		{"three generations", false, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var ids []ID
			for w := 0; w < 5; w++ {
				s := packStore(t, dir)
				for i := 0; i < 20; i++ {
					ids = append(ids, mustPut(t, s, small(w*1000+i)))
				}
				must(t, s.Close())
			}
			reader, err := Open(layout.New(dir), Options{ReadOnly: tc.readOnly})
			must(t, err)
			defer reader.Close()
			hitAll := func() {
				t.Helper()
				for _, id := range ids {
					if _, err := reader.Get(id, -1); err != nil {
						t.Fatalf("hit %s: %v", id.String()[:12], err)
					}
				}
			}
			hitAll() // maps every pack
			for r := 0; r < tc.rounds; r++ {
				other := packStore(t, dir)
				if r > 0 {
					// A new generation: another writer's pack, merged with
					// the previous output on the next round.
					for w := 0; w < 4; w++ {
						s := packStore(t, dir)
						ids = append(ids, mustPut(t, s, small(100000*(r+1)+w)))
						must(t, s.Close())
					}
					hitAll()
				}
				opts := RepackOptions{}
				if tc.keep {
					opts.Keep = func(ID) bool { return true }
				}
				rep, err := other.Repack(opts)
				if err != nil || rep.PacksIn == 0 {
					t.Fatalf("repack: %+v %v", rep, err)
				}
				must(t, other.Close())
				if _, err := reader.Get(ids[0], -1); err != nil { // the next hit
					t.Fatal(err)
				}
				if m := deletedPackMappings(t, dir); len(m) > 0 {
					t.Fatalf("round %d: after a hit, the reader still maps deleted packs:\n%s", r, strings.Join(m, "\n"))
				}
			}
			hitAll()
		})
	}
}

// Issue 21 item 7: gc's repack keeps one copy of an object stored in
// several dead packs, whatever their size (packs of two caches copied into
// each other are full-size), and never the last good one.
// Not parallel: it sets the package's maxPack.
func TestRepackDropsCrossPackDuplicates(t *testing.T) {
	defer func(m int64) { maxPack = m }(maxPack)
	for _, tc := range []struct {
		name    string
		maxPack int64 // the writers' packs are at least a quarter of it: not merged for size
		copies  int
		damage  bool // the copy in the first pack does not verify
	}{
		{"two large packs", 2048, 2, false},
		{"three large packs", 2048, 3, false},
		{"first copy damaged", 2048, 2, true},
		{"small packs", 64 << 20, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			maxPack = tc.maxPack
			dir := t.TempDir()
			var ids []ID
			var size int64
			for c := 0; c < tc.copies; c++ {
				other := t.TempDir()
				s := packStore(t, other)
				ids = ids[:0]
				size = 0
				for i := 0; i < 10; i++ {
					ids = append(ids, mustPut(t, s, small(i)))
					size += int64(len(small(i)))
				}
				must(t, s.Close())
				packs, idxs := packFiles(t, other)
				for _, p := range append(packs, idxs...) {
					os.MkdirAll(layout.New(dir).Packs(), 0o777)
					must(t, os.WriteFile(filepath.Join(layout.New(dir).Packs(), filepath.Base(p)), readFile(t, p), 0o444))
				}
			}
			s := packStore(t, dir)
			infos, err := s.ListPacks(nil)
			must(t, err)
			if len(infos) != tc.copies {
				t.Fatalf("%d packs, want %d", len(infos), tc.copies)
			}
			if tc.maxPack < 64<<20 && infos[0].Size < tc.maxPack/4 {
				t.Fatalf("pack of %d bytes is small: the case proves nothing", infos[0].Size)
			}
			wantDup := int64(tc.copies-1) * size
			if tc.damage {
				o := infos[0].Objects[3]
				os.Chmod(infos[0].Path, 0o644)
				b := readFile(t, infos[0].Path)
				b[o.Offset+recHeaderSize] ^= 0xff
				must(t, os.WriteFile(infos[0].Path, b, 0o444))
				wantDup -= o.Size
			}
			rep, err := s.Repack(RepackOptions{Keep: func(ID) bool { return true }})
			must(t, err)
			if rep.DuplicateBytes != wantDup || rep.ObjectsKept != len(ids) {
				t.Errorf("repack: %+v, want %d duplicate bytes dropped and %d objects kept", rep, wantDup, len(ids))
			}
			infos, err = s.ListPacks(nil)
			must(t, err)
			copies := map[ID]int{}
			for _, pi := range infos {
				if pi.Problem != "" {
					t.Errorf("pack %s: %s", pi.Name, pi.Problem)
				}
				for _, o := range pi.Objects {
					copies[o.ID]++
				}
			}
			for i, id := range ids {
				if copies[id] != 1 {
					t.Errorf("object %d: %d copies after the repack, want 1", i, copies[id])
				}
				b, err := s.Get(id, -1)
				if err != nil || string(b) != string(small(i)) {
					t.Errorf("object %d: %q %v", i, b, err)
				}
			}
		})
	}
}

// Issue 21 item 10: a pack merged away between ListPacks' reading of the
// directory and its reading of the pack is not reported as damaged: the
// directory is read again and the merge's output listed instead.
// Not parallel: it sets the package's afterPackListing hook.
func TestListPacksDuringMerge(t *testing.T) {
	dir := t.TempDir()
	var ids []ID
	for w := 0; w < 5; w++ {
		s := packStore(t, dir)
		for i := 0; i < 10; i++ {
			ids = append(ids, mustPut(t, s, small(w*1000+i)))
		}
		must(t, s.Close())
	}
	merger := packStore(t, dir)
	lister, err := Open(layout.New(dir), Options{ReadOnly: true})
	must(t, err)
	defer lister.Close()
	merged := false
	afterPackListing = func() {
		if !merged {
			merged = true
			if rep, err := merger.Repack(RepackOptions{}); err != nil || rep.PacksIn != 5 {
				t.Errorf("merge: %+v, %v", rep, err)
			}
		}
	}
	defer func() { afterPackListing = nil }()
	infos, err := lister.ListPacks(nil)
	must(t, err)
	if !merged {
		t.Fatal("no merge ran: the test proves nothing")
	}
	have := map[ID]bool{}
	for _, pi := range infos {
		if pi.Problem != "" || pi.Broken {
			t.Errorf("pack %s reported damaged: %s", pi.Name, pi.Problem)
		}
		for _, o := range pi.Objects {
			have[o.ID] = true
		}
	}
	for _, id := range ids {
		if !have[id] {
			t.Errorf("object %s not listed", id.String()[:12])
		}
	}
}

// packMappings lists this process's mappings of pack files under dir.
func packMappings(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip("no /proc/self/maps:", err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, dir) && (strings.Contains(l, layout.PackExt) || strings.Contains(l, layout.PackIndexExt)) {
			out = append(out, l)
		}
	}
	return out
}

// TestCloseUnmapsPacks: Close hands the packs' mappings to the background
// (a Close need not wait for the TLB flushes), and they do go.
func TestCloseUnmapsPacks(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/maps")
	}
	dir := t.TempDir()
	w := packStore(t, dir)
	var ids []ID
	for i := 0; i < 20; i++ {
		ids = append(ids, mustPut(t, w, small(i)))
	}
	must(t, w.Close())
	r, err := Open(layout.New(dir), Options{})
	must(t, err)
	for _, id := range ids {
		if _, err := r.Get(id, -1); err != nil {
			t.Fatal(err)
		}
	}
	if len(packMappings(t, dir)) == 0 {
		t.Fatal("a Get mapped no pack")
	}
	must(t, r.Close())
	fsutil.WaitUnmaps()
	if m := packMappings(t, dir); len(m) != 0 {
		t.Errorf("after Close, mapped still:\n%s", strings.Join(m, "\n"))
	}
}
