package cas

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pcache/pcache/internal/layout"
)

// TestQuarantineAndDeleteStayInside: with lost+found/ or an object's
// fan-out directory planted as a link to a directory elsewhere, Quarantine
// and Delete neither move a file into nor out of it, nor delete one there.
func TestQuarantineAndDeleteStayInside(t *testing.T) {
	t.Parallel()
	data := make([]byte, 200<<10) // a loose object
	for i := range data {
		data[i] = byte(i)
	}
	id := Sum(data)
	fan := id.String()[:2]
	cases := []struct {
		name string
		link string // cache-relative path made a link to the outside directory
		op   func(s *Store) error
	}{
		{"quarantine into a linked lost+found", layout.LostFoundDir, func(s *Store) error { _, err := s.Quarantine(id); return err }},
		{"quarantine out of a linked fan-out directory", "objects/" + fan, func(s *Store) error { _, err := s.Quarantine(id); return err }},
		{"delete in a linked fan-out directory", "objects/" + fan, func(s *Store) error { return s.Delete(id) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(layout.New(dir), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tc.link == layout.LostFoundDir {
				if _, err := s.Put(data); err != nil { // the object to quarantine
					t.Fatal(err)
				}
			}
			outside := t.TempDir()
			victim := filepath.Join(outside, id.String()[2:]) // named like the object
			os.WriteFile(victim, data, 0o600)
			link := filepath.Join(dir, filepath.FromSlash(tc.link))
			os.RemoveAll(link)
			os.MkdirAll(filepath.Dir(link), 0o755)
			if err := os.Symlink(outside, link); err != nil {
				t.Fatal(err)
			}
			tc.op(s)
			if tc.link == layout.LostFoundDir {
				os.Remove(victim) // only what quarantine may have moved in counts
			}
			es, _ := os.ReadDir(outside)
			want := 1
			if tc.link == layout.LostFoundDir {
				want = 0
				os.WriteFile(victim, data, 0o600)
			}
			if b, err := os.ReadFile(victim); err != nil || len(b) != len(data) || len(es) != want {
				t.Fatalf("the directory outside changed: %d entries, victim file %d bytes, %v", len(es), len(b), err)
			}
		})
	}
}
