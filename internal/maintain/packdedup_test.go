package maintain

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
)

func findingsOf(rep *CheckReport, kind string) []Finding {
	var out []Finding
	for _, f := range rep.Findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

// copyPacks copies every pack file (and index) of src into dst, as rsync
// of one cache into another does.
func copyPacks(t *testing.T, src, dst string) {
	t.Helper()
	from, to := layout.New(src).Packs(), layout.New(dst).Packs()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !layout.IsPackName(e.Name()) && !layout.IsPackIndexName(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o444); err != nil {
			t.Fatal(err)
		}
	}
}

// Issue 21 item 7: two caches that computed the same results, merged by
// copying one's packs into the other, hold every object twice. check says
// gc keeps one copy; gc must do so, keep the copy that verifies when the
// other is damaged, and say how many bytes it freed.
func TestGCDropsDuplicatePackedCopies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage bool // the copy in the pack read first does not verify
	}{
		{"both good", false},
		{"first copy damaged", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newTestCache(t), newTestCache(t)
			es := a.fill("f", 5)
			b.fill("f", 5)
			a.raw.Store.Close()
			b.raw.Store.Close()
			copyPacks(t, b.Dir(), a.Dir())
			var dupBytes int64
			for _, e := range es {
				dupBytes += e.Size
			}
			rep, err := a.Check(context.Background(), CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := findingsOf(rep, KindDuplicate); len(d) != 1 || !strings.Contains(d[0].Detail, "5 objects") {
				t.Fatalf("check does not see the 5 duplicates: %+v", rep.Findings)
			}
			if tc.damage {
				st, _ := cas.Open(layout.New(a.Dir()), cas.Options{ReadOnly: true})
				infos, err := st.ListPacks(nil)
				st.Close()
				if err != nil || len(infos) != 2 {
					t.Fatalf("packs: %v %+v", err, infos)
				}
				path := infos[0].Path
				os.Chmod(path, 0o644)
				data, _ := os.ReadFile(path)
				i := bytes.Index(data, []byte("value 2 of f"))
				if i < 0 {
					t.Fatal("record not found")
				}
				data[i] ^= 0xff
				if err := os.WriteFile(path, data, 0o444); err != nil {
					t.Fatal(err)
				}
			}
			p, err := a.PlanGC(context.Background(), GCOptions{Grace: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			grep, err := p.Execute(context.Background())
			if err != nil || len(grep.Errors) > 0 {
				t.Fatalf("gc: %v %+v", err, grep)
			}
			if tc.damage {
				dupBytes -= int64(len("value 2 of f")) // the damaged copy is not counted as a duplicate
			}
			if grep.BytesRemoved < dupBytes {
				t.Errorf("gc reports %d bytes freed, want at least the %d of the duplicates", grep.BytesRemoved, dupBytes)
			}
			rep, err = a.Check(context.Background(), CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Clean || len(findingsOf(rep, KindDuplicate)) > 0 {
				t.Fatalf("after gc: %+v", rep.Findings)
			}
			st, err := cas.Open(layout.New(a.Dir()), cas.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			infos, _ := st.ListPacks(nil)
			copies := map[cas.ID]int{}
			for _, pi := range infos {
				for _, o := range pi.Objects {
					copies[o.ID]++
				}
			}
			for i, e := range es {
				if copies[e.Result] != 1 {
					t.Errorf("object %d: %d packed copies after gc, want 1", i, copies[e.Result])
				}
				got, err := st.Get(e.Result, e.Size)
				if err != nil || string(got) != fmt.Sprintf("value %d of f", i) {
					t.Errorf("object %d after gc: %q, %v", i, got, err)
				}
			}
		})
	}
}

// Issue 21 item 10: a pack another process merges away between check's
// listing and its reading of the pack is no finding: its objects are in
// the merge's output, which check reads instead. Not parallel: it sets the
// package's testAfterListing hook.
func TestCheckDuringMerge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		packs int
	}{
		{"merge of 4 packs", 4},
		{"merge of 6 packs", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t)
			c.raw.Store.Close()
			for w := 0; w < tc.packs; w++ {
				st, err := cas.Open(layout.New(c.Dir()), cas.Options{})
				if err != nil {
					t.Fatal(err)
				}
				c.raw.Store = st
				c.fill(fmt.Sprintf("f%d", w), 3)
				st.Close()
			}
			merger, err := cas.Open(layout.New(c.Dir()), cas.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer merger.Close()
			merged := false
			testAfterListing = func() {
				if !merged {
					merged = true
					if rr, err := merger.Repack(cas.RepackOptions{}); err != nil || rr.PacksIn != tc.packs {
						t.Errorf("merge: %+v %v", rr, err)
					}
				}
			}
			defer func() { testAfterListing = nil }()
			rep, err := c.Check(context.Background(), CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !merged {
				t.Fatal("no merge ran: the test proves nothing")
			}
			if !rep.Clean || rep.Errors != 0 {
				t.Fatalf("check during a merge: %+v", rep.Findings)
			}
			if rep.HashedBytes == 0 {
				t.Error("the merged objects were not hashed")
			}
		})
	}
}

// An object stored both loose and packed (a cache that stored results
// loose, merged by rsync with one that packed them) counts in check's
// "stored more than once (gc keeps one)"; gc keeps the packed copy, once it
// verifies, and deletes the loose one.
func TestGCDropsLooseCopiesOfPackedObjects(t *testing.T) {
	t.Parallel()
	a := newTestCache(t)
	es := a.fill("f", 5)
	a.raw.Store.Close()
	loose, err := cas.Open(layout.New(a.Dir()), cas.Options{PackLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	var looseBytes int64
	for i, e := range es {
		v := []byte(fmt.Sprintf("value %d of f", i))
		if id, err := loose.Put(v); err != nil || id != e.Result {
			t.Fatalf("loose put: %v", err)
		}
		if _, err := os.Lstat(loose.Path(e.Result)); err != nil {
			t.Fatalf("no loose copy: %v", err)
		}
		looseBytes += int64(len(v))
	}
	loose.Close()
	rep, err := a.Check(context.Background(), CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := findingsOf(rep, KindDuplicate); len(d) != 1 || !strings.Contains(d[0].Detail, "5 objects") {
		t.Fatalf("check does not see the 5 duplicates: %+v", rep.Findings)
	}
	p, err := a.PlanGC(context.Background(), GCOptions{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	grep, err := p.Execute(context.Background())
	if err != nil || len(grep.Errors) > 0 {
		t.Fatalf("gc: %v %+v", err, grep)
	}
	if grep.BytesRemoved < looseBytes {
		t.Errorf("gc reports %d bytes freed, want the %d of the loose copies", grep.BytesRemoved, looseBytes)
	}
	rep, err = a.Check(context.Background(), CheckOptions{})
	if err != nil || !rep.Clean || len(findingsOf(rep, KindDuplicate)) > 0 {
		t.Fatalf("after gc: %v %+v", err, rep.Findings)
	}
	st, err := cas.Open(layout.New(a.Dir()), cas.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, e := range es {
		if _, err := os.Lstat(st.Path(e.Result)); err == nil {
			t.Errorf("object %d: loose copy left", i)
		}
		if got, err := st.Get(e.Result, e.Size); err != nil || string(got) != fmt.Sprintf("value %d of f", i) {
			t.Errorf("object %d after gc: %q, %v", i, got, err)
		}
	}
}
