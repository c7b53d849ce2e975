package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/maintain"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil"
)

// TestImportNamesWhatItReplaces (issue 26): importing into a function that
// has entries already says which of them the import overrides — a key
// whose live entry has another result — and counts those it holds
// already; the JSON report always has the list ([] when none).
func TestImportNamesWhatItReplaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newTestCache(t)
	src.fill("f", 3)
	var archive bytes.Buffer
	if _, err := Export(ctx, src.Cache, "f", &archive, nil); err != nil {
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

	rep, err := Import(ctx, dst.Cache, bytes.NewReader(archive.Bytes()), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replaced != 1 || len(rep.ReplacedKeys) != 1 || rep.ReplacedKeys[0] != maintain.ShortHash(k1) || rep.Unchanged != len(same) {
		t.Fatalf("report: replaced %d %v, unchanged %d; want k1 (%s) replaced, k0 unchanged", rep.Replaced, rep.ReplacedKeys, rep.Unchanged, maintain.ShortHash(k1))
	}
	if s := rep.Overrides(); s == "" || !bytes.Contains([]byte(s), []byte(maintain.ShortHash(k1))) {
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
	rep, err = Import(ctx, fresh.Cache, bytes.NewReader(archive.Bytes()), "", nil)
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
// Nothing is added to the cache, and little is allocated. Not parallel: the
// bound reads what the whole process allocates.
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
			alloc := testutil.Allocated(func() { _, err = Import(ctx, c.Cache, bytes.NewReader(tc.archive), "", nil) })
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

// tarOf builds a tar from name/content pairs, in order. A name
// "symlink:NAME" adds a symbolic link NAME pointing to the content.
func tarOf(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		if link, ok := strings.CutPrefix(f[0], "symlink:"); ok {
			if err := tw.WriteHeader(&tar.Header{Name: link, Linkname: f[1], Typeflag: tar.TypeSymlink}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	return b.Bytes()
}

// sparseTarOf is tarOf with the last file written as a GNU sparse file
// (typeflag 'S'), which tar readers expand to its declared size.
func sparseTarOf(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	b := tarOf(t, files...)
	// The last header block sits before the last file's data (padded to
	// 512) and the two zero end blocks.
	last := files[len(files)-1]
	dataBlocks := (len(last[1]) + 511) / 512
	h := len(b) - 1024 - dataBlocks*512
	for h > 0 && string(b[h:h+len(last[0])]) != last[0] {
		h -= 512
	}
	// GNU sparse: GNU magic, one data region holding the stored bytes, and a
	// real size of 1 GiB that a reader fills with zeros.
	b[h+156] = 'S'
	copy(b[h+257:h+265], "ustar  \x00")
	copy(b[h+386:h+398], fmt.Sprintf("%011o\x00", 0))
	copy(b[h+398:h+410], fmt.Sprintf("%011o\x00", len(last[1])))
	copy(b[h+483:h+495], fmt.Sprintf("%011o\x00", 1<<30))
	// Recompute the header checksum (bytes 148..155, octal, spaces while summing).
	copy(b[h+148:h+156], "        ")
	sum := 0
	for _, c := range b[h : h+512] {
		sum += int(c)
	}
	copy(b[h+148:h+156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// TestImportRejectsBadArchives: an archive that is not exactly what export
// writes — paths outside, unknown or oversize files, objects missing,
// damaged, misnamed, unreferenced, linked or sparse, another version, no
// header, garbage entries, nothing at all, or a tar cut short — is refused
// as not a valid export (never a bare tar error), and adds nothing.
func TestImportRejectsBadArchives(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newTestCache(t)
	src.fill("f", 2)
	var good bytes.Buffer
	if _, err := Export(ctx, src.Cache, "f", &good, nil); err != nil {
		t.Fatal(err)
	}
	// Take the good archive apart to build bad ones from its pieces.
	tr := tar.NewReader(bytes.NewReader(good.Bytes()))
	var parts [][2]string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		var b bytes.Buffer
		b.ReadFrom(tr)
		parts = append(parts, [2]string{h.Name, b.String()})
	}
	if len(parts) != 4 {
		t.Fatalf("archive has %d files, want header, entries and 2 objects", len(parts))
	}
	head, ents, obj0, obj1 := parts[0], parts[1], parts[2], parts[3]
	hdr := func(v int, entries, objects int) [2]string {
		b, _ := json.Marshal(map[string]any{"format": archiveFormat, "version": v, "name": "f", "entries": entries, "objects": objects})
		return [2]string{archiveHeader, string(b)}
	}
	bigHeader := [2]string{archiveHeader, strings.Repeat(" ", maxHeaderBytes+1)}
	for name, archive := range map[string][]byte{
		"traversal":      tarOf(t, head, ents, obj0, obj1, [2]string{"objects/../../evil", "x"}),
		"absolute":       tarOf(t, head, ents, obj0, [2]string{"/" + obj1[0], obj1[1]}),
		"unknown file":   tarOf(t, head, ents, obj0, obj1, [2]string{"README", "hi"}),
		"oversize":       tarOf(t, bigHeader, ents, obj0, obj1),
		"missing object": tarOf(t, hdr(1, 2, 1), ents, obj0),
		"bad hash":       tarOf(t, head, ents, obj0, [2]string{obj1[0], obj1[1][:len(obj1[1])-1] + "!"}),
		"wrong name":     tarOf(t, head, ents, obj0, [2]string{obj1[0], obj0[1]}),
		"version":        tarOf(t, hdr(99, 2, 2), ents, obj0, obj1),
		"no header":      tarOf(t, ents, obj0, obj1),
		"garbage cbor":   tarOf(t, head, [2]string{archiveEntries, "\xff\xff"}, obj0, obj1),
		"empty":          tarOf(t),
		"unreferenced":   tarOf(t, hdr(1, 2, 3), ents, obj0, obj1, [2]string{layout.ObjectRel(cas.Sum([]byte("extra"))), "extra"}),
		"symlink":        tarOf(t, head, ents, obj0, [2]string{"symlink:" + obj1[0], "/etc/passwd"}),
		"sparse":         sparseTarOf(t, head, ents, obj0, obj1),
		"cut short":      good.Bytes()[:good.Len()/2],
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			dst := newTestCache(t)
			_, err := Import(ctx, dst.Cache, bytes.NewReader(archive), "", nil)
			t.Log(err)
			if !errors.Is(err, ErrBadArchive) || !strings.HasPrefix(err.Error(), "not a valid pcache export: ") || strings.Contains(err.Error(), "invalid tar header") {
				t.Errorf("Import: %v, want it refused as not a valid export", err)
			}
			if names, _ := dst.Functions(); len(names) != 0 {
				t.Errorf("a rejected import added functions %v", names)
			}
		})
	}
}
