package manifest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil"
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
	hdr, _ := record.EncodeHeader(record.JournalFormat, record.Version, "f", nil)
	for _, e := range seedEntries() {
		p, _ := record.Encode(&e)
		hdr = record.AppendFrame(hdr, p)
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
		fuzzFile(t, layout.SegmentName(sum[:]), data)
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
	m, err := Open(layout.New(root), "f", Options{ReadOnly: true})
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
	} else if !errors.Is(err, record.ErrUnknownVersion) {
		t.Fatalf("Open: %v", err)
	}
	if _, err := Check(layout.New(root), "f"); err != nil {
		t.Fatal(err)
	}
	if err := Repair(layout.New(root), "f"); err != nil {
		t.Fatal(err)
	}
	if ps, err := Check(layout.New(root), "f"); err != nil || (len(ps) > 0 && !hasOnly(ps, KindUnknownVersion)) {
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

// A hostile segment (a huge count, a trailer pointing anywhere) costs no more
// than a bounded allocation. (Hostile records: package record's tests.)
// Not parallel: its allocation bound reads what the whole process allocates.
func TestHostileAllocation(t *testing.T) {
	// A segment whose header claims a huge count, and one whose trailer
	// points anywhere.
	seg := seedSegment(t)
	for _, mut := range []func([]byte){
		func(b []byte) { copy(b[len(b)-8:], []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) },
		func(b []byte) { b[len(b)-1]-- },
	} {
		b := append([]byte(nil), seg...)
		mut(b)
		grew := testutil.Allocated(func() { fuzzFile(t, "s-"+hex.EncodeToString(make([]byte, 32))+".pcs", b) })
		if grew > 16<<20 {
			t.Errorf("hostile segment: allocated %d", grew)
		}
	}
}

// TestWriteFuzzSeeds writes the seed corpus files when asked to.
func TestWriteFuzzSeeds(t *testing.T) {
	t.Parallel()
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
		p, _ := record.Encode(&e)
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
