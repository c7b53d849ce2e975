package cas

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// uses are every operation that counts as a use of an existing object and
// so refreshes its mtime (at most once per TouchQuantum).
var uses = []struct {
	name string
	use  func(t *testing.T, s *Store, b []byte)
}{
	{"Put", func(t *testing.T, s *Store, b []byte) { mustPut(t, s, b) }},
	{"PutReader", func(t *testing.T, s *Store, b []byte) {
		if _, _, err := s.PutReader(bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}},
	{"PutFile", func(t *testing.T, s *Store, b []byte) {
		p := filepath.Join(t.TempDir(), "f")
		must(t, os.WriteFile(p, b, 0o644))
		if _, _, err := putFile(s, p); err != nil {
			t.Fatal(err)
		}
	}},
	{"Get", func(t *testing.T, s *Store, b []byte) {
		if _, err := s.Get(Sum(b), -1); err != nil {
			t.Fatal(err)
		}
	}},
	{"GetSize", func(t *testing.T, s *Store, b []byte) {
		if _, err := s.Get(Sum(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}},
	{"Open", func(t *testing.T, s *Store, b []byte) {
		r, err := s.Open(Sum(b))
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
	}},
	{"CopyTo", func(t *testing.T, s *Store, b []byte) {
		f, err := os.Create(filepath.Join(t.TempDir(), "dst"))
		must(t, err)
		defer f.Close()
		if _, err := s.CopyTo(Sum(b), f); err != nil {
			t.Fatal(err)
		}
	}},
}

func TestUseRefreshesMtimeOncePerQuantum(t *testing.T) {
	t.Parallel()
	for _, u := range uses {
		t.Run(u.name, func(t *testing.T) {
			s, clk := newStore(t)
			b := []byte("used object " + u.name)
			id := mustPut(t, s, b)
			path := s.Path(id)
			now := clk.Now()
			for _, tc := range []struct {
				name        string
				age         time.Duration // how long before now the mtime is set
				wantTouched bool
			}{
				{"just used", 0, false},
				{"within quantum", TouchQuantum - time.Second, false},
				{"slightly future", -(TouchQuantum - time.Second), false},
				{"older than quantum", TouchQuantum + time.Second, true},
				{"days old", 72 * time.Hour, true},
				{"far future (other machine's clock)", -(TouchQuantum + time.Second), true},
			} {
				old := now.Add(-tc.age)
				setFileMtime(t, path, old)
				u.use(t, s, b)
				got := mtime(t, path)
				want := old
				if tc.wantTouched {
					want = now
				}
				if !got.Equal(want) {
					t.Errorf("%s: mtime %v after use, want %v", tc.name, got, want)
				}
			}
		})
	}
}

// Checking must not look like use: fsck would otherwise make every object
// young and defeat gc -older-than.
func TestInspectionLeavesMtime(t *testing.T) {
	t.Parallel()
	s, clk := newStore(t)
	b := []byte("inspected")
	id := mustPut(t, s, b)
	path := s.Path(id)
	old := clk.Now().Add(-100 * time.Hour)
	setFileMtime(t, path, old)
	must(t, s.Verify(id))
	if _, err := s.Has(id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.statObject(id); err != nil {
		t.Fatal(err)
	}
	must(t, s.walkObjects(func(ID, os.FileInfo) error { return nil }))
	if got := mtime(t, path); !got.Equal(old) {
		t.Fatalf("inspection changed mtime from %v to %v", old, got)
	}
}

// The mtime follows the injected clock, so a test of gc -older-than can step
// it across a boundary.
func TestClockAdvancesAcrossQuantum(t *testing.T) {
	t.Parallel()
	s, clk := newStore(t)
	b := []byte("clocked")
	id := mustPut(t, s, b)
	path := s.Path(id)
	t0 := clk.Now()
	setFileMtime(t, path, t0)
	clk.Set(t0.Add(TouchQuantum - time.Second))
	if _, err := s.Get(id, -1); err != nil {
		t.Fatal(err)
	}
	if got := mtime(t, path); !got.Equal(t0) {
		t.Fatalf("Get inside the quantum bumped mtime to %v", got)
	}
	clk.Set(t0.Add(TouchQuantum + time.Second))
	r, err := s.Open(id)
	must(t, err)
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if got := mtime(t, path); !got.Equal(clk.Now()) {
		t.Fatalf("Open after the quantum: mtime %v, want %v", got, clk.Now())
	}
}
