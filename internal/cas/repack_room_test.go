package cas

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/retire"
)

// smallPacks leaves n sealed small packs in dir, one per closed Store, and
// returns what they hold.
func smallPacks(t *testing.T, dir string, n, from int) map[ID][]byte {
	t.Helper()
	want := map[ID][]byte{}
	for p := range n {
		s := packStore(t, dir)
		for i := range 50 {
			b := small(from + p*1000 + i)
			id, err := s.Put(b)
			must(t, err)
			want[id] = b
		}
		must(t, s.Close())
	}
	return want
}

func tmpEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// A merge that fails part-way (the disk filled) leaves nothing behind: not
// its open temp file, not the outputs it had already sealed; the inputs
// still serve every object.
// Not parallel: it sets the package's maxPack and swaps tempWrite.
func TestMergeFailureLeavesNothing(t *testing.T) {
	defer func(m int64) { maxPack = m }(maxPack)
	dir := t.TempDir()
	want := smallPacks(t, dir, 8, 0)
	before, _ := packFiles(t, dir)
	maxPack = 16 << 10 // several outputs: the first sealed before the failure
	failWrites(t, 1)
	s := packStore(t, dir)
	rep, err := s.Repack(RepackOptions{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Repack on a full disk: %+v, %v, want ENOSPC", rep, err)
	}
	after, _ := packFiles(t, dir)
	slices.Sort(before)
	slices.Sort(after)
	if !slices.Equal(before, after) {
		t.Fatalf("packs after a failed merge: %v, want the inputs alone %v", after, before)
	}
	if left := tmpEntries(t, dir); len(left) != 0 {
		t.Fatalf("tmp/ after a failed merge: %v", left)
	}
	if l, _ := retire.List(s.d, nil); len(l) != 0 {
		t.Fatalf("inputs retired by a failed merge: %v", l)
	}
	for id, b := range want {
		if got, err := s.Get(id, -1); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("after a failed merge: %v", err)
		}
	}
}

// A merge never starts without room for its output plus a margin.
// Not parallel: it swaps the package's freeSpace.
func TestMergeNeedsRoom(t *testing.T) {
	dir := t.TempDir()
	smallPacks(t, dir, 5, 0)
	var asked int64
	orig := freeSpace
	t.Cleanup(func() { freeSpace = orig })
	for _, tc := range []struct {
		free    int64
		wantErr bool
	}{
		{free: 1 << 20, wantErr: true},   // below the 1 MiB margin alone
		{free: 64 << 20, wantErr: false}, // plenty
	} {
		freeSpace = func(string) (int64, int64, bool) { asked++; return tc.free, 20 << 20, true }
		before, _ := packFiles(t, dir)
		s := packStore(t, dir)
		rep, err := s.Repack(RepackOptions{})
		if tc.wantErr != errors.Is(err, ErrNoRoom) {
			t.Fatalf("free %d: Repack: %+v, %v", tc.free, rep, err)
		}
		if tc.wantErr {
			after, _ := packFiles(t, dir)
			if len(after) != len(before) || len(tmpEntries(t, dir)) != 0 {
				t.Fatalf("a merge without room wrote: %v, tmp %v", after, tmpEntries(t, dir))
			}
		} else if rep.PacksOut != 1 {
			t.Fatalf("with room: %+v", rep)
		}
		must(t, s.Close())
	}
	if asked == 0 {
		t.Fatal("the free space was never looked at")
	}
}

// A merge retires its inputs: they stay, never inputs again, until a
// later Repack after the grace period deletes them; gc (Keep) deletes
// every retired pack at once. Objects are served throughout.
func TestMergeRetiresInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want := smallPacks(t, dir, 5, 0)
	s := packStore(t, dir)
	rep, err := s.Repack(RepackOptions{})
	must(t, err)
	if rep.PacksIn != 5 || rep.Retired != 5 || rep.PacksOut != 1 {
		t.Fatalf("merge: %+v", rep)
	}
	packs, _ := packFiles(t, dir)
	if len(packs) != 6 {
		t.Fatalf("after the merge: %d packs on disk, want the 5 inputs (retired) and the output", len(packs))
	}
	infos, err := s.ListPacks(nil)
	must(t, err)
	retired := 0
	for _, pi := range infos {
		if pi.Retired {
			retired++
		}
	}
	if retired != 5 {
		t.Fatalf("%d packs listed as retired, want 5", retired)
	}
	// Within the grace period a merge reaps nothing and takes no retired input.
	rep, err = s.Repack(RepackOptions{})
	must(t, err)
	if rep.PacksIn != 0 || rep.Reaped != 0 {
		t.Fatalf("second merge within the grace period: %+v", rep)
	}
	// After it, the retired packs and their indexes go.
	rep, err = s.Repack(RepackOptions{Now: time.Now().Add(retire.Grace + time.Minute)})
	must(t, err)
	if rep.Reaped != 10 {
		t.Fatalf("merge after the grace period: %+v, want 5 packs and 5 indexes reaped", rep)
	}
	packs, idxs := packFiles(t, dir)
	if len(packs) != 1 || len(idxs) != 1 {
		t.Fatalf("after reaping: %v %v", packs, idxs)
	}
	for id, b := range want {
		if got, err := packStore(t, dir).Get(id, -1); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("after reaping: %v", err)
		}
		break
	}
	for id, b := range want {
		if got, err := s.Get(id, -1); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("after reaping, the open store: %v", err)
		}
	}

	// gc removes retired packs at once, whatever their age.
	smallPacks(t, dir, 5, 1e6)
	must(t, s.Close())
	s = packStore(t, dir)
	if rep, err = s.Repack(RepackOptions{}); err != nil || rep.Retired == 0 {
		infos, _ := s.ListPacks(nil)
		for _, pi := range infos {
			t.Logf("%s size %d sealed %v live %v retired %v broken %v", pi.Name, pi.Size, pi.Sealed, pi.Live, pi.Retired, pi.Broken)
		}
		t.Fatalf("merge: %+v, %v", rep, err)
	}
	rep, err = s.ReapRetired(RepackOptions{Keep: func(ID) bool { return true }})
	must(t, err)
	if rep.Reaped != 2*rep.Reaped/2 || rep.Reaped == 0 {
		t.Fatalf("gc's reap: %+v", rep)
	}
	if l, _ := retire.List(s.d, nil); len(l) != 0 {
		t.Fatalf("retired packs left after gc: %v", l)
	}
}

// A sealed pack replaced by an older, shorter copy (plain rsync -a of a
// pack that grew) is reported as shortened, with the cure.
func TestShortenedPackIsReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	smallPacks(t, dir, 1, 0)
	packs, _ := packFiles(t, dir)
	b, err := os.ReadFile(packs[0])
	must(t, err)
	os.Chmod(packs[0], 0o644)
	must(t, os.WriteFile(packs[0], b[:len(b)/2], 0o644))
	infos, err := packStore(t, dir).ListPacks(nil)
	must(t, err)
	if len(infos) != 1 || !strings.Contains(infos[0].Problem, ErrShortened.Error()) || !strings.Contains(infos[0].Problem, "--append-verify") {
		t.Fatalf("a shortened pack is described as %q", infos[0].Problem)
	}
}

// A process killed between retiring a pack and retiring its index leaves
// only the pack retired: reaping the pack removes its index as well, so no
// index is left without its pack.
func TestReapTakesTheIndexOfAPartlyRetiredPack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	smallPacks(t, dir, 5, 0)
	s := packStore(t, dir)
	if rep, err := s.Repack(RepackOptions{}); err != nil || rep.Retired != 5 {
		t.Fatalf("merge: %+v, %v", rep, err)
	}
	_, idxs := packFiles(t, dir)
	for _, idx := range idxs {
		retire.Forget(s.d, idx) // as if killed before the index was retired
	}
	if _, err := s.Repack(RepackOptions{Now: time.Now().Add(retire.Grace + time.Minute)}); err != nil {
		t.Fatal(err)
	}
	packs, idxs := packFiles(t, dir)
	if len(packs) != 1 || len(idxs) != 1 {
		t.Fatalf("after reaping: %v %v, want the merged pack and its index alone", packs, idxs)
	}
}
