package outfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pcache/pcache/internal/testutil"
)

// TestRestoreTreeHostileRecords: tree records come from manifests any
// writer of the cache can forge: none makes a restore write outside the
// requested directory, and a file of the tree whose object is gone makes
// the whole restore unavailable (the caller computes), leaving the
// directory as it was.
func TestRestoreTreeHostileRecords(t *testing.T) {
	st := newStore(t)
	src := filepath.Join(t.TempDir(), "tree")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "sub", "a"), testutil.Bytes(1, 200<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err := CaptureTree(st, "Out", src)
	if err != nil {
		t.Fatal(err)
	}
	file := -1
	for i, r := range recs {
		if r.Arg == "Out/sub/a" {
			file = i
		}
	}
	if file < 0 || !IsTree(recs, "Out") || len(recs) != 3 {
		t.Fatalf("captured %+v", recs)
	}
	for _, arg := range []string{"Out/../escape", "Out//abs", "Out/sub/../../x", "Out/..", "Out/a\\b"} {
		forged := append([]File{}, recs...)
		forged[file].Arg = arg
		dst := filepath.Join(t.TempDir(), "dst")
		if _, _, err := RestoreTree(st, forged, "Out", dst, nil); !errors.Is(err, ErrUnavailable) {
			t.Errorf("a record named %q: %v, want ErrUnavailable", arg, err)
		}
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Errorf("a record named %q: the destination was made", arg)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "escape")); !os.IsNotExist(err) {
			t.Errorf("a record named %q wrote outside the destination", arg)
		}
	}

	// The object of a file is gone and no trusted path holds it.
	dst := filepath.Join(t.TempDir(), "dst")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dst, "mine"), []byte("kept"), 0o644)
	if _, err := st.Quarantine(recs[file].Object); err != nil {
		t.Fatal(err)
	}
	if _, _, err := RestoreTree(st, recs, "Out", dst, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a lost object: %v, want ErrUnavailable", err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "mine")); err != nil || string(b) != "kept" {
		t.Fatalf("a failed restore changed the directory: %q, %v", b, err)
	}
	// A path the caller passed still holds the tree: the file is recovered
	// from it and the object stored again.
	got, changed, err := RestoreTree(st, recs, "Out", dst, func(p string) bool { return p == src })
	if err != nil || !changed {
		t.Fatalf("recovery from the trusted source: %v, %v", changed, err)
	}
	wantContent(t, filepath.Join(dst, "sub", "a"), testutil.Bytes(1, 200<<10))
	if has, _ := st.Has(recs[file].Object); !has {
		t.Fatal("the recovered object was not stored again")
	}
	if len(got) != len(recs) {
		t.Fatalf("records after restore: %+v", got)
	}
}
