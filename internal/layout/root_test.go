package layout

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/testutil"
)

// TestRootedOperationsStayInside: with the cache's own directories
// replaced by links to a directory outside, Remove and Rename touch nothing
// there, and CheckOwnDirs names each planted link and non-directory.
func TestRootedOperationsStayInside(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	os.Mkdir(outside, 0o755)
	secret := filepath.Join(outside, "thesis.tex")
	os.WriteFile(secret, []byte("years of work"), 0o600)
	d := New(filepath.Join(base, "cache"))
	os.MkdirAll(d.Objects(), 0o755)
	os.WriteFile(filepath.Join(d.Objects(), "x"), nil, 0o644)
	for _, p := range []string{d.Tmp(), d.LostFound(), d.join(ObjectsDir, "ab")} {
		if err := os.Symlink(outside, p); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(d.Locks(), 0o755)
	testutil.Mkfifo(d.KeyLocks())
	os.WriteFile(d.Packs(), nil, 0o644) // a file where a directory belongs

	cases := []struct {
		name string
		op   func() error
	}{
		{"remove through tmp", func() error { return d.Remove(filepath.Join(d.Tmp(), "thesis.tex")) }},
		{"remove through objects/ab", func() error { return d.Remove(filepath.Join(d.Objects(), "ab", "thesis.tex")) }},
		{"rename out of tmp", func() error {
			return d.Rename(filepath.Join(d.Tmp(), "thesis.tex"), filepath.Join(d.Objects(), "stolen"))
		}},
		{"rename into lost+found", func() error {
			return d.Rename(filepath.Join(d.Objects(), "x"), filepath.Join(d.LostFound(), "planted"))
		}},
		{"remove outside", func() error { return d.Remove(secret) }},
		{"remove the root", func() error { return d.Remove(d.Root()) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); err == nil {
				t.Fatalf("%s: no error", tc.name)
			}
			if b, err := os.ReadFile(secret); err != nil || string(b) != "years of work" {
				t.Fatalf("the file outside the cache: %q, %v", b, err)
			}
			if es, _ := os.ReadDir(outside); len(es) != 1 {
				t.Fatalf("the directory outside holds %d entries, want 1", len(es))
			}
		})
	}
	var got []string
	for _, err := range d.CheckOwnDirs(true) {
		if p, ok := errors.AsType[*Planted](err); !ok || !errors.Is(err, ErrNotOwnDir) || p.Path == "" {
			t.Errorf("%v is not a *Planted wrapping ErrNotOwnDir", err)
		}
		got = append(got, err.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"tmp is a symbolic link to " + outside, "lost+found is a symbolic link", "objects/ab is a symbolic link", "locks/keys is a named pipe", "objects/pack is a file"} {
		if !strings.Contains(all, want) {
			t.Errorf("CheckOwnDirs does not say %q:\n%s", want, all)
		}
	}
	if n := len(d.CheckOwnDirs(false)); n != 2 {
		t.Errorf("top-level check found %d, want 2 (tmp, lost+found)", n)
	}
	// Inside the cache, the rooted operations work.
	if err := d.Rename(filepath.Join(d.Objects(), "x"), filepath.Join(d.Objects(), "y")); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(filepath.Join(d.Objects(), "y")); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(filepath.Join(d.Objects(), "never")); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
}
