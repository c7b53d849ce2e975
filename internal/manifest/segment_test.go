package manifest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pcache/pcache/internal/fsutil"
)

// bigSegment writes a segment of n entries (large enough to be mapped
// rather than read into memory) and returns its path.
func bigSegment(t *testing.T, root string, n int) string {
	t.Helper()
	var es []Entry
	for i := 0; i < n; i++ {
		e := ent(i, vname(i))
		e.Time = 1
		es = append(es, e)
	}
	name := writeSeg(t, root, "f", es...)
	path := filepath.Join(root, "manifests", "f", name)
	if fi, err := os.Stat(path); err != nil || fi.Size() <= smallSegment {
		t.Fatalf("segment too small to be mapped: %v %v", fi, err)
	}
	return path
}

// Not parallel: it sets the package's useMmap.
func TestSegmentReadPaths(t *testing.T) {
	const n = 3000
	root := t.TempDir()
	bigSegment(t, root, n)
	for _, mmap := range []bool{true, false} {
		if mmap && !fsutil.CanMap {
			continue
		}
		useMmap = mmap
		m := mustOpen(t, root, "f", Options{ReadOnly: true})
		if got := segments(m)[0].unmap != nil; got != mmap {
			t.Fatalf("useMmap=%v: mapped=%v", mmap, got)
		}
		for i := 0; i < n; i++ {
			wantResult(t, m, i, vname(i))
		}
		wantAbsent(t, m, n)
		if got := len(allEntries(t, m)); got != n {
			t.Fatalf("useMmap=%v: Iterate gave %d", mmap, got)
		}
		m.Close()
	}
	useMmap = fsutil.CanMap
}

// A mapped segment truncated in place under a reader (segments are never
// modified, but a user or a tool might) gives misses and errors, not a
// crash.
func TestSegmentTruncatedUnderMapping(t *testing.T) {
	t.Parallel()
	if !fsutil.CanMap {
		t.Skip("no mmap")
	}
	root := t.TempDir()
	path := bigSegment(t, root, 3000)
	m := mustOpen(t, root, "f", Options{ReadOnly: true})
	if segments(m)[0].unmap == nil {
		t.Fatal("not mapped")
	}
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()/3); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if e, ok, err := m.Lookup(kh(i)); ok && e.KeyHash != kh(i) {
			t.Fatalf("wrong entry: %v", err)
		}
	}
	if len(m.problems.list()) == 0 {
		t.Fatal("no problem reported")
	}
	if err := m.Iterate(func(Entry) error { return nil }); err == nil {
		t.Fatal("Iterate over a truncated mapping: no error")
	}
}

// A segment caught mid-copy is skipped; once the copy completes (the file
// is replaced), readers use it.
func TestPartialSegmentCompleted(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	name := writeSeg(t, src, "f", ent(1, "a"), ent(2, "b"))
	data, _ := os.ReadFile(filepath.Join(src, "manifests", "f", name))
	root := t.TempDir()
	dir := filepath.Join(root, "manifests", "f")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, name)
	os.WriteFile(path, data[:len(data)/2], 0o644)
	m := mustOpen(t, root, "f", Options{})
	wantAbsent(t, m, 1)
	if ps := m.problems.list(); len(ps) != 1 || ps[0].Kind != KindBadSegment {
		t.Fatalf("problems: %v", ps)
	}
	os.WriteFile(path+".tmp", data, 0o644)
	os.Rename(path+".tmp", path)
	wantResult(t, m, 1, "a")
	wantResult(t, m, 2, "b")
}
