package layout

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// WriteMarker writes its temp file in tmp/, which a sync of the cache
// leaves out, so an rsync beside a cache's first Open never sees a file of
// the root vanish; and never through a tmp/ that someone planted as a link.
func TestWriteMarkerTempFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, root string) (outside string)
	}{
		{"new cache", nil},
		{"tmp exists", func(t *testing.T, root string) string {
			if err := os.Mkdir(filepath.Join(root, TmpDir), 0o755); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
		{"tmp is a link to a directory outside", func(t *testing.T, root string) string {
			outside := t.TempDir()
			if err := os.Symlink(outside, filepath.Join(root, TmpDir)); err != nil {
				t.Fatal(err)
			}
			return outside
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "cache")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			var outside string
			if tc.plant != nil {
				outside = tc.plant(t, root)
			}
			d := New(root)
			if err := d.WriteMarker(); err != nil {
				t.Fatal(err)
			}
			if v := d.LayoutVersion(); v != MarkerVersion {
				t.Fatalf("layout version %d after WriteMarker, want %d", v, MarkerVersion)
			}
			names := dirNames(t, root)
			if want := []string{ReadmeFile, MarkerFile, TmpDir}; !slices.Equal(names, want) { // sorted
				t.Fatalf("root holds %v, want %v", names, want)
			}
			if outside != "" {
				if n := dirNames(t, outside); len(n) != 0 {
					t.Fatalf("WriteMarker wrote %v through the planted link", n)
				}
				return
			}
			if n := dirNames(t, d.Tmp()); len(n) != 0 {
				t.Fatalf("tmp/ holds %v after WriteMarker", n)
			}
		})
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}
