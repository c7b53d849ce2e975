package cas

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/testutil"
)

func TestWalkSeesObjectsAndReportsStrays(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	var want []ID
	for i := range 50 {
		want = append(want, mustPut(t, s, testutil.Bytes(uint64(i), i)))
	}
	slices.SortFunc(want, func(a, b ID) int { return strings.Compare(a.String(), b.String()) })
	first := want[0].String()
	// Two subdirectory names no object uses, for a file and a symlink.
	var free []string
	for i := 0; len(free) < 2; i++ {
		name := ID{byte(i)}.String()[:2]
		if !slices.ContainsFunc(want, func(id ID) bool { return id[0] == byte(i) }) {
			free = append(free, name)
		}
	}
	strays := map[string]string{ // rel path → kind
		"objects/README":                  "file",
		"objects/zz":                      "dir",
		"objects/AB":                      "dir",
		"objects/abc":                     "dir",
		"objects/" + first[:2] + "/xyz":   "file",
		"objects/" + first[:2] + "/x.tmp": "file",
		"objects/" + first[:2] + "/" + strings.ToUpper(first[2:]): "file",
		"objects/" + first[:2] + "/" + first[2:] + "0":            "file",
		"objects/" + free[0]: "file", // a file where a subdirectory belongs
		"objects/" + free[1]: "symlink",
	}
	for rel, kind := range strays {
		p := filepath.Join(s.d.Root(), filepath.FromSlash(rel))
		switch kind {
		case "file":
			must(t, os.WriteFile(p, []byte("stray"), 0o644))
		case "dir":
			must(t, os.MkdirAll(filepath.Join(p, "inner"), 0o755))
		case "symlink":
			// A symlinked subdirectory must not be followed.
			target := t.TempDir()
			must(t, os.WriteFile(filepath.Join(target, strings.Repeat("0", 62)), nil, 0o644))
			if err := os.Symlink(target, p); err != nil {
				delete(strays, rel)
			}
		}
	}
	var got []ID
	must(t, s.walkObjects(func(id ID, info fs.FileInfo) error {
		if !info.Mode().IsRegular() || info.Name() != id.String()[2:] {
			t.Errorf("Walk gave %s with info %v %v", id, info.Name(), info.Mode())
		}
		got = append(got, id)
		return nil
	}))
	if !slices.Equal(got, want) {
		t.Errorf("Walk saw %d objects, want %d in ID order", len(got), len(want))
	}

	gotStrays := map[string]bool{}
	var objects []ID
	must(t, s.WalkAll(WalkFuncs{
		Object: func(id ID, _ fs.FileInfo) error { objects = append(objects, id); return nil },
		Stray: func(rel string, info fs.FileInfo) error {
			if gotStrays[rel] {
				t.Errorf("stray %s reported twice", rel)
			}
			gotStrays[rel] = true
			return nil
		},
	}))
	if !slices.Equal(objects, want) {
		t.Errorf("WalkAll saw %d objects, want %d", len(objects), len(want))
	}
	for rel := range strays {
		if !gotStrays[rel] {
			t.Errorf("stray %s not reported", rel)
		}
	}
	for rel := range gotStrays {
		if _, ok := strays[rel]; !ok {
			t.Errorf("reported %s as stray", rel)
		}
	}
}

func TestWalkStopsAndSkips(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	// Enough objects (-short, fewer) that some subdirectories hold more
	// than one: SkipDir has the rest of a subdirectory to skip.
	objects := 300
	if testing.Short() {
		objects = 64
	}
	for i := range objects {
		mustPut(t, s, testutil.Bytes(uint64(i), 8))
	}
	all := map[byte]int{}
	must(t, s.walkObjects(func(id ID, _ fs.FileInfo) error { all[id[0]]++; return nil }))
	if len(all) == objects {
		t.Fatalf("%d objects, each in a subdirectory of its own: SkipDir would skip nothing", objects)
	}
	n := 0
	must(t, s.walkObjects(func(ID, fs.FileInfo) error {
		n++
		if n == 5 {
			return fs.SkipAll
		}
		return nil
	}))
	if n != 5 {
		t.Errorf("SkipAll: %d calls, want 5", n)
	}
	perDir := map[byte]int{}
	must(t, s.walkObjects(func(id ID, _ fs.FileInfo) error {
		perDir[id[0]]++
		return fs.SkipDir
	}))
	for d, c := range perDir {
		if c != 1 {
			t.Errorf("SkipDir: %d calls in subdirectory %02x", c, d)
		}
	}
	boom := errors.New("boom")
	if err := s.walkObjects(func(ID, fs.FileInfo) error { return boom }); err != boom {
		t.Errorf("callback error: got %v", err)
	}
}

// Callbacks may delete what they are given (gc does).
func TestWalkWithDelete(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	for i := range 100 {
		mustPut(t, s, testutil.Bytes(uint64(i), 8))
	}
	must(t, s.walkObjects(func(id ID, _ fs.FileInfo) error { return s.Delete(id) }))
	n := 0
	must(t, s.walkObjects(func(ID, fs.FileInfo) error { n++; return nil }))
	if n != 0 {
		t.Errorf("%d objects left", n)
	}
}
