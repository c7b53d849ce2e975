package layout

import (
	"errors"
	"fmt"
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
	// A newer layout is refused only when its marker is sound (its
	// checksum matches); a foreign pcache.json is not a marker; damage in a
	// directory that is not otherwise a cache makes it no cache.
	newer := fmt.Sprintf(`{"format":"pcache-cache","version":%d,"digest":"blake3-256","sum":%q}`, MaxMarkerVersion+1, markerSum(MarkerFormat, MaxMarkerVersion+1, Digest))
	for content, want := range map[string]error{
		newer:                        ErrNewerCache,
		`{"name":"some other tool"}`: ErrNotCache,
		`not json`:                   ErrNotCache,
		`{"format":"pcache-cache","version":99,"digest":"blake3-256"}`: ErrNotCache,
	} {
		x := New(t.TempDir())
		os.WriteFile(x.Marker(), []byte(content), 0o644)
		if _, err := x.CheckMarker(); !errors.Is(err, want) {
			t.Errorf("marker %s: %v, want %v", content, err, want)
		}
	}
	if _, err := New(filepath.Join(t.TempDir(), "missing")).CheckMarker(); !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrNotCache) {
		t.Errorf("missing dir: %v", err)
	}
}

// TestWrittenMarkers: the markers CheckMarker accepts without decoding
// JSON are byte for byte what writeMarker writes of each layout version,
// and a marker that differs from them in one byte is judged by the JSON
// path as before.
func TestWrittenMarkers(t *testing.T) {
	for v := MarkerVersion; v <= MaxMarkerVersion; v++ {
		d := New(t.TempDir())
		if err := d.writeMarker(v); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(d.Marker())
		if err != nil {
			t.Fatal(err)
		}
		if !soundMarker(b) || string(b) != writtenMarkers[v-1] {
			t.Fatalf("layout %d: writeMarker writes %q, want %q", v, b, writtenMarkers[v-1])
		}
		os.Mkdir(d.Objects(), 0o777)
		if _, err := d.CheckMarker(); err != nil {
			t.Fatalf("layout %d: %v", v, err)
		}
		flipped := strings.Replace(string(b), fmt.Sprint(`"version":`, v), fmt.Sprint(`"version":`, v+1), 1)
		os.WriteFile(d.Marker(), []byte(flipped), 0o644)
		if _, err := d.CheckMarker(); !errors.Is(err, ErrDamagedMarker) {
			t.Fatalf("layout %d with its version flipped: %v, want ErrDamagedMarker", v, err)
		}
	}
}

// A damaged marker in a directory that is otherwise a cache is damage, never
// "not a cache" and never "newer": truncated, garbled, a flipped version
// digit (with or without the checksum), a lost file. RepairMarker rewrites
// it and leaves a sound or newer marker alone.
func TestDamagedMarker(t *testing.T) {
	d := New(t.TempDir())
	if err := d.WriteMarker(); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(d.Objects(), 0o755)
	os.MkdirAll(d.Manifest("f"), 0o755)
	good, err := os.ReadFile(d.Marker())
	if err != nil {
		t.Fatal(err)
	}
	flip := strings.Replace(string(good), `"version":1`, `"version":3`, 1)
	if flip == string(good) {
		t.Fatalf("marker %s has no version 1", good)
	}
	for name, content := range map[string]string{
		"truncated":       string(good[:len(good)/2]),
		"empty":           "",
		"garbled":         "\x00\x01{{",
		"flipped digit":   flip,
		"flipped, no sum": `{"format":"pcache-cache","version":3,"digest":"blake3-256"}`,
		"version 0":       `{"format":"pcache-cache","version":0,"digest":"blake3-256"}`,
		"wrong digest":    `{"format":"pcache-cache","version":1,"digest":"sha1"}`,
		"missing":         "",
	} {
		if name == "missing" {
			os.Remove(d.Marker())
			os.Remove(d.Readme()) // else it is a cache from before markers
		} else {
			os.WriteFile(d.Marker(), []byte(content), 0o644)
		}
		_, err := d.CheckMarker()
		if !errors.Is(err, ErrDamagedMarker) || errors.Is(err, ErrNewerCache) || errors.Is(err, ErrNotCache) {
			t.Errorf("%s marker: %v, want ErrDamagedMarker only", name, err)
			continue
		}
		if name != "missing" && !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s marker: %q does not say damaged", name, err)
		}
		if err := d.RepairMarker(MarkerVersion); err != nil {
			t.Fatalf("%s: repair: %v", name, err)
		}
		if legacy, err := d.CheckMarker(); err != nil || legacy {
			t.Fatalf("%s: after RepairMarker: %v", name, err)
		}
	}
	// A stray file besides the damage: not recognisably a cache.
	os.WriteFile(d.Marker(), good[:5], 0o644)
	os.WriteFile(filepath.Join(d.Root(), "notes.txt"), nil, 0o644)
	if _, err := d.CheckMarker(); !errors.Is(err, ErrNotCache) {
		t.Errorf("damaged marker beside a stray file: %v, want ErrNotCache", err)
	}
	if err := d.RepairMarker(MarkerVersion); err == nil {
		t.Error("RepairMarker rewrote the marker of a directory that is not a cache")
	}
	// A newer marker is not touched.
	n := New(t.TempDir())
	os.MkdirAll(n.Objects(), 0o755)
	newer := fmt.Sprintf(`{"format":"pcache-cache","version":%d,"digest":"blake3-256","sum":%q}`, MaxMarkerVersion+1, markerSum(MarkerFormat, MaxMarkerVersion+1, Digest))
	os.WriteFile(n.Marker(), []byte(newer), 0o644)
	if err := n.RepairMarker(MarkerVersion); !errors.Is(err, ErrNewerCache) {
		t.Errorf("RepairMarker of a newer marker: %v", err)
	}
}

// A directory this process may not read is a permission error, not "not a
// cache" (root reads everything: the test needs another user).
func TestMarkerPermission(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory")
	}
	d := New(t.TempDir())
	if err := d.WriteMarker(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(d.Root(), 0)
	defer os.Chmod(d.Root(), 0o755)
	_, err := d.CheckMarker()
	if !errors.Is(err, fs.ErrPermission) || errors.Is(err, ErrNotCache) {
		t.Fatalf("unreadable dir: %v, want a permission error", err)
	}
}

// The README left in every cache lists pcache-fsck's commands and the
// rsync lines of README.md, word for word.
func TestReadmeMatchesDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(readmeText, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "X=") || strings.HasPrefix(line, "rsync ") {
			n++
			if !strings.Contains(string(doc), "\n"+line+"\n") {
				t.Errorf("README line %q is not in README.md", line)
			}
		}
	}
	if n != 3 {
		t.Errorf("README has %d rsync lines, want README.md's 3", n)
	}
	if strings.Contains(readmeText, "explain") {
		t.Error("README names a pcache-fsck explain command, which does not exist")
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

// TestUpgradeMarker: a cache's marker rises to the compressed layout once
// (the file grows, so rsync --append-verify carries it to a receiver of the
// shorter one), from a sound, a legacy or a damaged marker; a newer one is
// left alone, and a new cache starts at layout 1.
func TestUpgradeMarker(t *testing.T) {
	newCache := func() Dir {
		d := New(t.TempDir())
		os.Mkdir(d.Objects(), 0o755)
		return d
	}
	d := newCache()
	if err := d.WriteMarker(); err != nil {
		t.Fatal(err)
	}
	v1, _ := os.ReadFile(d.Marker())
	if v := d.LayoutVersion(); v != MarkerVersion {
		t.Fatalf("a new cache is at layout %d", v)
	}
	if err := d.UpgradeMarker(CompressedVersion); err != nil {
		t.Fatal(err)
	}
	v2, _ := os.ReadFile(d.Marker())
	if v := d.LayoutVersion(); v != CompressedVersion || len(v2) <= len(v1) || !strings.Contains(string(v2), `"compression":"zstd"`) {
		t.Fatalf("after UpgradeMarker: layout %d, %s (was %s)", v, v2, v1)
	}
	if _, err := d.CheckMarker(); err != nil {
		t.Fatal(err)
	}
	if err := d.UpgradeMarker(MarkerVersion); err != nil || d.LayoutVersion() != CompressedVersion {
		t.Fatalf("an upgrade to a lower layout changed the marker: %v", err)
	}
	legacy := newCache()
	os.WriteFile(legacy.Readme(), []byte(legacyReadme+" (a permanent cache of Go function results).\n"), 0o644)
	damaged := newCache()
	os.WriteFile(damaged.Marker(), []byte(`{"format":"pcache-ca`), 0o644)
	for name, d := range map[string]Dir{"legacy": legacy, "damaged": damaged} {
		if err := d.UpgradeMarker(CompressedVersion); err != nil || d.LayoutVersion() != CompressedVersion {
			t.Errorf("%s: %v, layout %d", name, err, d.LayoutVersion())
		}
	}
	newer := newCache()
	m := fmt.Sprintf(`{"format":"pcache-cache","version":%d,"digest":"blake3-256","sum":%q}`, MaxMarkerVersion+1, markerSum(MarkerFormat, MaxMarkerVersion+1, Digest))
	os.WriteFile(newer.Marker(), []byte(m), 0o644)
	if err := newer.UpgradeMarker(CompressedVersion); !errors.Is(err, ErrNewerCache) {
		t.Errorf("upgrade of a newer marker: %v", err)
	}
	if b, _ := os.ReadFile(newer.Marker()); string(b) != m {
		t.Errorf("a newer marker was rewritten: %s", b)
	}
}
