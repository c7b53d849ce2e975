package maintain

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil"
)

// TestImportNamesWhatItReplaces (issue 26): importing into a function that
// has entries already says which of them the import overrides — a key
// whose live entry has another result — and counts those it holds
// already; the JSON report always has the list ([] when none).
func TestImportNamesWhatItReplaces(t *testing.T) {
	ctx := context.Background()
	src := newTestCache(t)
	src.fill("f", 3)
	var archive bytes.Buffer
	if _, err := src.Export(ctx, "f", &archive, nil); err != nil {
		t.Fatal(err)
	}

	dst := newTestCache(t)
	// k0: the same entry; k1: another result for the key; k2: absent.
	same := dst.fill("f", 1)
	val := []byte("another value")
	id, err := dst.raw.Store.Put(val)
	if err != nil {
		t.Fatal(err)
	}
	k1 := blake3.Sum256([]byte("k1"))
	m, err := manifest.Open(layout.New(dst.Dir()), "f", manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Append(record.Entry{KeyHash: k1, Key: []byte("k1"), Time: time.Now().UnixNano(), Result: id, Size: int64(len(val)), Codec: "raw"}); err != nil {
		t.Fatal(err)
	}
	m.Close()

	rep, err := dst.Import(ctx, bytes.NewReader(archive.Bytes()), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replaced != 1 || len(rep.ReplacedKeys) != 1 || rep.ReplacedKeys[0] != shortHash(k1) || rep.Unchanged != len(same) {
		t.Fatalf("report: replaced %d %v, unchanged %d; want k1 (%s) replaced, k0 unchanged", rep.Replaced, rep.ReplacedKeys, rep.Unchanged, shortHash(k1))
	}
	if s := rep.Overrides(); s == "" || !bytes.Contains([]byte(s), []byte(shortHash(k1))) {
		t.Errorf("Overrides() = %q", s)
	}
	js, _ := json.Marshal(rep)
	var back map[string]any
	json.Unmarshal(js, &back)
	if back["replaced"] != float64(1) || back["unchanged"] != float64(1) {
		t.Errorf("JSON: %s", js)
	}

	// Into a cache without the function: nothing replaced, and the list is
	// [] in JSON, not null.
	fresh := newTestCache(t)
	rep, err = fresh.Import(ctx, bytes.NewReader(archive.Bytes()), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	js, _ = json.Marshal(rep)
	if rep.Replaced != 0 || rep.Overrides() != "" || !bytes.Contains(js, []byte(`"replaced_keys":[]`)) {
		t.Errorf("fresh import: %s, %q", js, rep.Overrides())
	}
}

// handArchive writes a tar with the given header and entries files, and
// object files of the given sizes declared (their bodies are not written:
// the import must refuse before reading them).
func handArchive(t *testing.T, head archiveHeaderV1, entries []archiveEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hb, _ := json.Marshal(head)
	tw.WriteHeader(&tar.Header{Name: archiveHeader, Typeflag: tar.TypeReg, Size: int64(len(hb)), Mode: 0o644})
	tw.Write(hb)
	var eb bytes.Buffer
	for _, e := range entries {
		b, err := archiveEncMode.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		eb.Write(b)
	}
	tw.WriteHeader(&tar.Header{Name: archiveEntries, Typeflag: tar.TypeReg, Size: int64(eb.Len()), Mode: 0o644})
	tw.Write(eb.Bytes())
	tw.Close()
	return buf.Bytes()
}

// TestImportBoundsEverySize (issue 26): every size an archive declares is
// bounded before anything is allocated or read for it: negative counts,
// more entries than the header says, objects of 2^50 and 2^62 bytes.
// Nothing is added to the cache, and little is allocated.
func TestImportBoundsEverySize(t *testing.T) {
	ctx := context.Background()
	key := blake3.Sum256([]byte("k"))
	obj := blake3.Sum256([]byte("v"))
	ent := func(size int64) archiveEntry {
		return archiveEntry{KeyHash: key[:], Result: obj[:], Size: size, Codec: "raw"}
	}
	head := func(entries, objects int) archiveHeaderV1 {
		return archiveHeaderV1{Format: archiveFormat, Version: archiveVersion, Name: "f", Entries: entries, Objects: objects}
	}
	many := make([]archiveEntry, 100_000) // 10 MB of entries; the header says 1
	for i := range many {
		many[i] = ent(1)
	}
	for _, tc := range []struct {
		name    string
		archive []byte
	}{
		{"negative entries", handArchive(t, head(-1, 0), nil)},
		{"negative objects", handArchive(t, head(1, -5), []archiveEntry{ent(1)})},
		{"more entries than the header", handArchive(t, head(1, 1), many)},
		{"2^50-byte object", handArchive(t, head(1, 1), []archiveEntry{ent(1 << 50)})},
		{"2^62-byte object", handArchive(t, head(1, 1), []archiveEntry{ent(1 << 62)})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t)
			var err error
			alloc := testutil.Allocated(func() { _, err = c.Import(ctx, bytes.NewReader(tc.archive), "", nil) })
			if !errors.Is(err, ErrBadArchive) {
				t.Fatalf("err %v, want ErrBadArchive", err)
			}
			if alloc > 16<<20 {
				t.Errorf("allocated %d bytes refusing a %d-byte archive", alloc, len(tc.archive))
			}
			rep, err := c.Stats()
			if err == nil && len(rep.Functions) != 0 {
				t.Errorf("a refused import added %+v", rep.Functions)
			}
		})
	}
}
