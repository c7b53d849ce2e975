package manifest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"testing"

	"github.com/zeebo/blake3"
)

// Seeds for the fuzz targets live in testdata/fuzz/<target>/ (written by
// TestWriteFuzzSeeds with PCACHE_WRITE_FUZZ_SEEDS=1) and are added below.

func seedEntries() []Entry {
	full := ent(1, "x")
	full.Time = 42
	full.Codec = "raw"
	full.Outs = []OutFile{{Arg: "P", Object: full.Result, Size: 3, Mode: 0o600, Paths: []PathRecord{{Path: "/p", MtimeNs: 7, Size: 3}}}}
	tomb := Entry{KeyHash: kh(2), Time: 43, Deleted: true}
	return []Entry{full, tomb, ent(3, "y")}
}

func seedJournal() []byte {
	hdr, _ := encodeHeader(journalFormat, "f", nil)
	for _, e := range seedEntries() {
		p, _ := encodeEntry(&e)
		hdr = appendFrame(hdr, p)
	}
	return hdr
}

func seedSegment(t testing.TB) []byte {
	root := t.TempDir()
	n := writeSeg(t, root, "f", seedEntries()...)
	b, err := os.ReadFile(filepath.Join(root, "manifests", "f", n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecodeEntry(f *testing.F) {
	for _, e := range seedEntries() {
		p, _ := encodeEntry(&e)
		f.Add(p)
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error does not wrap ErrBadRecord: %v", err)
			}
			return
		}
		// What decodes re-encodes, and the re-encoding decodes to the same.
		c, err := encodeEntry(&e)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		e2, err := DecodeEntry(c)
		if err != nil || !reflect.DeepEqual(normal(e), normal(e2)) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, e, e2)
		}
	})
}

// normal maps empty slices to nil (the encoding omits both alike).
func normal(e Entry) Entry {
	if len(e.Key) == 0 {
		e.Key = nil
	}
	if len(e.Outs) == 0 {
		e.Outs = nil
	}
	for i := range e.Outs {
		if len(e.Outs[i].Paths) == 0 {
			e.Outs[i].Paths = nil
		}
	}
	return e
}

func FuzzJournal(f *testing.F) {
	j := seedJournal()
	f.Add(j)
	f.Add(j[:len(j)-3])
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzFile(t, "j-fuzz.pcj", data)
	})
}

func FuzzSegment(f *testing.F) {
	s := seedSegment(f)
	f.Add(s)
	f.Add(s[:len(s)-1])
	f.Fuzz(func(t *testing.T, data []byte) {
		sum := blake3.Sum256(data)
		fuzzFile(t, segmentFileName(sum[:]), data)
	})
}

// fuzzFile puts data in a manifest as the named file and runs every reader
// over it: nothing may panic, and whatever is returned must be what was asked
// for.
func fuzzFile(t *testing.T, name string, data []byte) {
	root := t.TempDir()
	dir := filepath.Join(root, "manifests", "f")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open(root, "f", Options{ReadOnly: true})
	if err == nil {
		for i := 0; i < 4; i++ {
			e, ok, err := m.Lookup(kh(i))
			if err != nil {
				t.Fatal(err)
			}
			if ok && e.KeyHash != kh(i) {
				t.Fatalf("Lookup(%d) returned key %x", i, e.KeyHash[:4])
			}
		}
		if err := m.Iterate(func(Entry) error { return nil }); err != nil {
			t.Fatal(err)
		}
		m.Close()
	} else if !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("Open: %v", err)
	}
	if _, err := Check(root, "f"); err != nil {
		t.Fatal(err)
	}
	if err := Repair(root, "f"); err != nil {
		t.Fatal(err)
	}
	if ps, err := Check(root, "f"); err != nil || (len(ps) > 0 && !hasOnly(ps, KindUnknownVersion)) {
		t.Fatalf("Check after Repair: %v %v", ps, err)
	}
}

func hasOnly(ps []Problem, kind string) bool {
	for _, p := range ps {
		if p.Kind != kind {
			return false
		}
	}
	return true
}

// Declared lengths and counts in hostile files are checked against what is
// there before anything is allocated.
func TestHostileAllocation(t *testing.T) {
	huge := []struct {
		name string
		b    []byte
	}{
		{"byte string of 2^62", []byte{0xa1, 0x61, 'k', 0x5b, 0x40, 0, 0, 0, 0, 0, 0, 0}},
		{"array of 2^31", []byte{0xa1, 0x61, 'f', 0x9a, 0x80, 0, 0, 0}},
		{"map of 2^31", []byte{0xba, 0x80, 0, 0, 0}},
		{"deep nesting", bytes.Repeat([]byte{0x81}, 10000)},
		{"100000 empty out files", append([]byte{0xa1, 0x61, 'f', 0x9a, 0, 1, 0x86, 0xa0}, bytes.Repeat([]byte{0xa0}, 100000)...)},
		{"1000 out files of 1000 empty paths", append(
			[]byte{0xa1, 0x61, 'f', 0x99, 0x03, 0xe8},
			bytes.Repeat(append([]byte{0xa1, 0x61, 'p', 0x99, 0x03, 0xe8}, bytes.Repeat([]byte{0xa0}, 1000)...), 1000)...)},
	}
	for _, tc := range huge {
		grew := allocated(func() { DecodeEntry(tc.b) })
		if grew > 16*uint64(len(tc.b))+64<<10 {
			t.Errorf("%s: decoding %d bytes allocated %d", tc.name, len(tc.b), grew)
		}
	}
	frames := [][]byte{
		{0x82, 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x82, 0x5a, 0xff, 0xff, 0xff, 0xff},
	}
	for _, b := range frames {
		if _, err := parseFrame(b); !errors.Is(err, errFraming) {
			t.Errorf("parseFrame(%x) = %v, want errFraming", b, err)
		}
	}
	// A segment whose header claims a huge count, and one whose trailer
	// points anywhere.
	seg := seedSegment(t)
	for _, mut := range []func([]byte){
		func(b []byte) { copy(b[len(b)-8:], []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) },
		func(b []byte) { b[len(b)-1]-- },
	} {
		b := append([]byte(nil), seg...)
		mut(b)
		grew := allocated(func() { fuzzFile(t, "s-"+hex.EncodeToString(make([]byte, 32))+".pcs", b) })
		if grew > 16<<20 {
			t.Errorf("hostile segment: allocated %d", grew)
		}
	}
}

func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestWriteFuzzSeeds writes the seed corpus files when asked to.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("PCACHE_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set PCACHE_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	write := func(target, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(dir, 0o755)
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, e := range seedEntries() {
		p, _ := encodeEntry(&e)
		write("FuzzDecodeEntry", fmt.Sprintf("entry-%d", i), p)
	}
	j := seedJournal()
	write("FuzzJournal", "valid", j)
	write("FuzzJournal", "torn", j[:len(j)-3])
	flipped := append([]byte(nil), j...)
	flipped[len(flipped)-10] ^= 1
	write("FuzzJournal", "flipped", flipped)
	s := seedSegment(t)
	write("FuzzSegment", "valid", s)
	write("FuzzSegment", "truncated", s[:len(s)-1])
	bad := append([]byte(nil), s...)
	bad[len(bad)/2] ^= 0x40
	write("FuzzSegment", "flipped", bad)
}
