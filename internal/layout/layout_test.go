package layout

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"ml/train", true},
		{"x/y-1.2_v@3,b=c+d", true},
		{"", false},
		{"/abs", false},
		{"a//b", false},
		{"a/", false},
		{"./a", false},
		{"a/../b", false},
		{"..", false},
		{`a\b`, false},
		{"my func", false},
		{"ü", false},
		{"a.", false},
		{"con", false},
		{"ds/CON", false},
		{"lpt1.txt", false},
		{"com9/x", false},
		{"aux.tar.gz", false},
		{"console", true},
		{"com10", true},
		{strings.Repeat("x", 129), false},
		{strings.Repeat("x/", 300) + "x", false},
	} {
		err := CheckName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q): %v does not wrap ErrBadName", tc.name, err)
		}
	}
}

func TestCheckCollision(t *testing.T) {
	d := New(t.TempDir())
	if err := os.MkdirAll(d.Manifest("ds/train"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		other string // "" for no collision
	}{
		{"ds/train", ""},
		{"ds/test", ""},
		{"ds/Train", "ds/train"},
		{"DS/train", "ds"},
		{"Ds/x", "ds"},
		{"ds/train/sub", ""},
		{"ds/TRAIN/sub", "ds/train"},
		{"other", ""},
	} {
		err := d.CheckCollision(tc.name)
		if (err == nil) != (tc.other == "") {
			t.Errorf("CheckCollision(%q) = %v, want collision with %q", tc.name, err, tc.other)
			continue
		}
		if err != nil && (!errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), `"`+tc.other+`"`)) {
			t.Errorf("CheckCollision(%q) = %v, want it to name %q", tc.name, err, tc.other)
		}
	}
}

func TestMarker(t *testing.T) {
	d := New(t.TempDir())
	if _, err := d.CheckMarker(); !errors.Is(err, ErrNotCache) {
		t.Fatalf("empty dir: %v, want ErrNotCache", err)
	}
	if err := d.WriteMarker(); err != nil {
		t.Fatal(err)
	}
	if legacy, err := d.CheckMarker(); err != nil || legacy {
		t.Fatalf("after WriteMarker: legacy=%v %v", legacy, err)
	}
	if _, err := os.Stat(d.Readme()); err != nil {
		t.Fatalf("no README: %v", err)
	}
	if fi, err := os.Stat(d.Marker()); err != nil || fi.Mode().Perm()&0o044 != 0o044 {
		t.Fatalf("marker mode %v, %v: others sharing the cache must be able to read it", fi.Mode(), err)
	}
	// A cache written before markers: its README is the proof.
	old := New(t.TempDir())
	os.WriteFile(old.Readme(), []byte(legacyReadme+" (a permanent cache of Go function results).\n"), 0o644)
	if legacy, err := old.CheckMarker(); err != nil || !legacy {
		t.Fatalf("legacy cache: legacy=%v %v", legacy, err)
	}
	// A newer layout is refused; a foreign pcache.json is not a marker.
	for content, want := range map[string]error{
		`{"format":"pcache-cache","version":99,"digest":"blake3-256"}`: ErrNewerCache,
		`{"name":"some other tool"}`:                                   ErrNotCache,
		`not json`:                                                     ErrNotCache,
	} {
		x := New(t.TempDir())
		os.WriteFile(x.Marker(), []byte(content), 0o644)
		if _, err := x.CheckMarker(); !errors.Is(err, want) {
			t.Errorf("marker %s: %v, want %v", content, err, want)
		}
	}
	if _, err := New(filepath.Join(t.TempDir(), "missing")).CheckMarker(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
}

func TestNames(t *testing.T) {
	id := [32]byte{0xab, 0xcd}
	rel := ObjectRel(id)
	if !strings.HasPrefix(rel, "objects/ab/cd") || len(rel) != len("objects/")+3+62 {
		t.Fatalf("ObjectRel = %s", rel)
	}
	got, ok := ParseObjectName(rel[8:10], rel[11:])
	if !ok || got != id {
		t.Fatalf("ParseObjectName(%s) = %x %v", rel, got, ok)
	}
	for _, bad := range [][2]string{{"AB", strings.Repeat("0", 62)}, {"ab", strings.Repeat("0", 61)}, {"ab", strings.Repeat("g", 62)}} {
		if _, ok := ParseObjectName(bad[0], bad[1]); ok {
			t.Errorf("ParseObjectName(%q, %q) accepted", bad[0], bad[1])
		}
	}
	j := JournalName("host.1.abc")
	if !IsJournalName(j) || IsSegmentName(j) {
		t.Errorf("journal name %q", j)
	}
	s := SegmentName(make([]byte, 32))
	if !IsSegmentName(s) || IsJournalName(s) {
		t.Errorf("segment name %q", s)
	}
	d := New("/c")
	if r := d.Rel("/c/objects/ab"); r != "objects/ab" {
		t.Errorf("Rel inside = %q", r)
	}
	if r := d.Rel("/elsewhere/x"); r != "/elsewhere/x" {
		t.Errorf("Rel outside = %q", r)
	}
}
