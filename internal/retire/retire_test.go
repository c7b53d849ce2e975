package retire_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/retire"
)

func TestSyncable(t *testing.T) {
	for _, tc := range []struct {
		rel  string
		want bool
	}{
		{"objects/pack/h.1.ab.pcp", true},
		{"objects/pack/h.1.ab.pci", true},
		{"manifests/fn/v1/j-h.1.ab.pcj", true},
		{"manifests/fn/s-" + hex64() + ".pcs", true},
		{"manifests/j-h.1.ab.pcj", false}, // not in a function's directory
		{"objects/ab/cdef", false},        // loose objects are never retired
		{"remote/x/index/s-" + hex64() + ".pcs", false},
		{"pcache.json", false},
		{"../outside/h.pcp", false},
		{"objects/pack/../../etc/h.pcp", false},
		{"/etc/h.pcp", false},
		{"manifests/fn/notes.txt", false},
	} {
		if got := retire.Syncable(tc.rel); got != tc.want {
			t.Errorf("Syncable(%q) = %v, want %v", tc.rel, got, tc.want)
		}
	}
}

func hex64() string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

// cacheWith makes a cache directory holding the files at rels.
func cacheWith(t *testing.T, rels ...string) layout.Dir {
	t.Helper()
	root := t.TempDir()
	d := layout.New(root)
	os.MkdirAll(d.Tmp(), 0o777)
	for _, rel := range rels {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("content of "+rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestReap(t *testing.T) {
	pack, idx, jrn := "objects/pack/h.1.ab.pcp", "objects/pack/h.1.ab.pci", "manifests/fn/j-h.1.ab.pcj"
	d := cacheWith(t, pack, idx, jrn, "objects/pack/other.pcp")
	p := func(rel string) string { return filepath.Join(d.Root(), filepath.FromSlash(rel)) }
	t0 := time.Now()
	for _, rel := range []string{pack, idx, jrn} {
		if !retire.Retire(d, p(rel), t0) {
			t.Fatalf("Retire(%s) refused", rel)
		}
	}
	if retire.Retire(d, p("objects/pack/missing.pcp"), t0) {
		t.Fatal("Retire of a missing file succeeded")
	}
	l, err := retire.List(d, nil)
	if err != nil || len(l) != 3 {
		t.Fatalf("List: %v, %v", l, err)
	}
	// Within the grace period nothing goes.
	if got, err := retire.Reap(d, time.Hour, t0.Add(time.Minute), nil); err != nil || len(got) != 0 {
		t.Fatalf("Reap within grace: %v, %v", got, err)
	}
	// A sync appended to the journal since it was retired: it is kept and
	// is no longer retired (its new records must be merged, not lost).
	f, err := os.OpenFile(p(jrn), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more records")
	f.Close()
	if l, _ := retire.List(d, nil); len(l) != 2 {
		t.Fatalf("List after a sync appended to a retired journal: %v, want the pack and index only", l)
	}
	got, err := retire.Reap(d, time.Hour, t0.Add(2*time.Hour), nil)
	if err != nil || len(got) != 2 || got[0].Rel != idx || got[1].Rel != pack {
		t.Fatalf("Reap after grace: %v, %v (want the index, then the pack)", got, err)
	}
	for _, rel := range []string{pack, idx} {
		if _, err := os.Lstat(p(rel)); !os.IsNotExist(err) {
			t.Errorf("%s still there after Reap: %v", rel, err)
		}
	}
	for _, rel := range []string{jrn, "objects/pack/other.pcp"} {
		if _, err := os.Lstat(p(rel)); err != nil {
			t.Errorf("%s: %v (it must stay)", rel, err)
		}
	}
	if l, _ := retire.List(d, nil); len(l) != 0 {
		t.Fatalf("records left after Reap: %v", l)
	}
}

// A record planted in locks/retired/ can make Reap delete nothing outside
// the cache, nor any file retire never keeps.
func TestReapIgnoresPlantedRecords(t *testing.T) {
	d := cacheWith(t, "pcache.json", "objects/ab/cdef")
	outside := filepath.Join(t.TempDir(), "precious")
	os.WriteFile(outside, []byte("x"), 0o644)
	os.MkdirAll(d.Retired(), 0o777)
	for _, rel := range []string{"pcache.json", "objects/ab/cdef", "../" + filepath.Base(filepath.Dir(outside)) + "/precious", outside} {
		p := rel
		if !filepath.IsAbs(p) {
			p = filepath.Join(d.Root(), rel)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		// Size and time match: only the rule of what may be retired stands
		// between the record and the file.
		body := fmt.Sprintf("pcache-retired 1\n%s\n0 %d %d\n", rel, fi.Size(), fi.ModTime().UnixNano())
		os.WriteFile(d.RetiredRecord(rel), []byte(body), 0o644)
	}
	if _, err := retire.Reap(d, 0, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(d.Root(), "pcache.json"), filepath.Join(d.Root(), "objects/ab/cdef"), outside} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
