package manifest

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	m := mustOpen(t, root, "ml/train/v2", Options{Now: fakeClock()})
	full := Entry{
		KeyHash: kh(1),
		Key:     []byte("key-1"),
		Result:  cas.Sum([]byte("r")),
		Size:    1,
		Codec:   "raw",
		Outs: []OutFile{{
			Arg: "Path", Object: cas.Sum([]byte("file")), Size: 4, Mode: 0o644,
			Paths: []PathRecord{{Path: "/tmp/x", MtimeNs: 12345, Size: 4}},
		}},
	}
	mustAppend(t, m, full, ent(2, "two"))
	if _, ok := lookup(t, m, 3); ok {
		t.Fatal("key 3 present")
	}
	got, ok := lookup(t, m, 1)
	if !ok {
		t.Fatal("key 1 missing")
	}
	if got.Time == 0 {
		t.Fatal("Time not stamped")
	}
	full.Time = got.Time
	if !reflect.DeepEqual(got, full) {
		t.Fatalf("got %+v\nwant %+v", got, full)
	}

	// A second Manifest (another process, in effect) reads the same.
	m2 := mustOpen(t, root, "ml/train/v2", Options{})
	got2, ok, err := m2.Lookup(kh(1))
	if err != nil || !ok || !reflect.DeepEqual(got2, full) {
		t.Fatalf("second reader: %+v %v %v", got2, ok, err)
	}
	wantResult(t, m2, 2, "two")

	// Appends by m after m2 opened are found by m2's refresh on a miss;
	// Peek does not refresh.
	mustAppend(t, m, ent(3, "three"))
	if _, ok, err := m2.Peek(kh(3)); ok || err != nil {
		t.Fatalf("Peek found a record it has not read: %v %v", ok, err)
	}
	wantResult(t, m2, 3, "three")
	if e, ok, err := m2.Peek(kh(3)); !ok || err != nil || e.Result != ent(3, "three").Result {
		t.Fatalf("Peek after the refresh: %+v %v %v", e, ok, err)
	}

	// Delete hides the key everywhere.
	if err := m2.Delete(kh(2)); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, m2, 2)
	// m holds key 2 in memory, so its Lookup answers without reading the
	// disk: it sees the tombstone after a Refresh.
	if err := m.Refresh(); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, m, 2)
	if n := len(allEntries(t, m)); n != 2 {
		t.Fatalf("Iterate: %d entries, want 2", n)
	}
	// And survives full compaction (after both writers close).
	m.Close()
	m2.Close()
	m3 := mustOpen(t, root, "ml/train/v2", Options{})
	if err := m3.Compact(true); err != nil {
		t.Fatal(err)
	}
	js, ss := files(t, m3.dir)
	if len(js) != 0 || len(ss) != 1 {
		t.Fatalf("after full compaction: journals %v segments %v", js, ss)
	}
	got3, ok := lookup(t, m3, 1)
	if !ok || !reflect.DeepEqual(got3, full) {
		t.Fatalf("after compaction: %+v %v", got3, ok)
	}
	wantAbsent(t, m3, 2)
	wantResult(t, m3, 3, "three")
	if ps, err := Check(layout.New(root), "ml/train/v2"); err != nil || len(ps) != 0 {
		t.Fatalf("Check: %v %v", ps, err)
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	m := mustOpen(t, t.TempDir(), "f", Options{})
	m.Close()
	if _, _, err := m.Lookup(kh(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lookup after Close: %v", err)
	}
	if err := m.Append(ent(1, "x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	m := mustOpen(t, root, "f", Options{ReadOnly: true})
	if err := m.Append(ent(1, "x")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Append: %v", err)
	}
	if _, err := listDir(filepath.Join(root, "manifests")); err != nil {
		t.Fatal(err)
	}
}

func TestBadName(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"", "/abs", "a/../b", "..", "../x", "a//b", "a/", "./a", `a\b`} {
		if _, err := Open(layout.New(t.TempDir()), n, Options{}); !errors.Is(err, layout.ErrBadName) {
			t.Errorf("Open(%q): %v, want ErrBadName", n, err)
		}
	}
}
