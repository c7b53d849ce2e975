package outfile

import (
	"os"
	"path/filepath"
	"testing"
)

// Not parallel: t.Chdir changes the whole process's working directory.
func TestAbs(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(wd, "abc")
	for _, in := range []string{"abc", "./abc", "dir/../abc", "./dir/./../abc", filepath.Join(wd, "abc"), wd + "/./abc", want + "/"} {
		got, err := Abs(in)
		if err != nil || got != want {
			t.Errorf("Abs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Abs(""); err == nil {
		t.Error(`Abs("") succeeded`)
	}
}

// Relative spellings of one out file are one path: a restore through any of
// them finds the file captured through another untouched.
func TestRelativePathsAlias(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	writeOld(t, "sub/out", []byte("content"), 0o644)
	p, err := Abs("./sub/out")
	if err != nil {
		t.Fatal(err)
	}
	rec := mustCapture(t, st, "Out", p)
	before := identify(t, p)
	for _, rel := range []string{"sub/out", "sub/../sub/out", "./sub/./out"} {
		q, err := Abs(rel)
		if err != nil {
			t.Fatal(err)
		}
		if _, changed := mustRestore(t, st, rec, q); changed {
			t.Errorf("restore via %q changed the record", rel)
		}
	}
	before.same(t, p)
}
