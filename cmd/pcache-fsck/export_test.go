package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/maintain"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/testutil/testcache"
)

func TestExportImportRoundTrip(t *testing.T) {
	src := newTestCache(t)
	src.Fill("proj/f", 50, nil)
	src.Fill("other", 5, nil)
	tarPath := filepath.Join(t.TempDir(), "f.tar")
	r := runCLICode(t, 0, "export", "proj/f", tarPath, "-dir", src.Dir)
	if !strings.Contains(r.stdout, "export: wrote 50 entries and 50 objects") {
		t.Errorf("export output:\n%s", r.stdout)
	}

	dst := filepath.Join(t.TempDir(), "fresh")
	r = runCLICode(t, 1, "import", tarPath, "renamed/f", "-dir", dst) // not a cache (yet): a failure, not a usage error
	if !strings.Contains(r.stderr, "not a cache directory") || fileExists(dst) {
		t.Fatalf("import into a missing directory: %s (created: %v)", r.stderr, fileExists(dst))
	}
	runCLICode(t, 0, "init", "-dir", dst)
	r = runCLICode(t, 0, "import", tarPath, "renamed/f", "-dir", dst, "-json")
	var rep maintain.ImportReport
	decodeJSON(t, r.stdout, &rep)
	if rep.Name != "renamed/f" || rep.Entries != 50 || rep.Objects != 50 || rep.NewObjects != 50 {
		t.Fatalf("import report %+v", rep)
	}
	c := testcache.Open(t, dst, cas.Options{})
	for i := 0; i < 50; i++ {
		if !c.Hit("renamed/f", fmt.Sprintf("k%d", i)) {
			t.Errorf("imported k%d misses", i)
		}
	}
	runCLICode(t, 0, "check", "-dir", dst)

	// Importing again under the original name shares the objects.
	r = runCLICode(t, 0, "import", tarPath, "-dir", dst)
	if !strings.Contains(r.stdout, "import: added 50 entries to proj/f; 50 objects verified (") || !strings.Contains(r.stdout, ", 0 new)") {
		t.Errorf("second import:\n%s", r.stdout)
	}
	// Into the function that now holds them: the import says what it overrides.
	r = runCLICode(t, 0, "import", tarPath, "renamed/f", "-dir", dst)
	if !strings.Contains(r.stdout, "import: renamed/f already held 50 of these entries (unchanged)") {
		t.Errorf("import over existing entries does not say what it overrides:\n%s", r.stdout)
	}
}

// archive builds a tar from name/content pairs, in order. A name
// "symlink:NAME" adds a symbolic link NAME pointing to the content.
func archive(t *testing.T, files ...[2]string) string {
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
	p := filepath.Join(t.TempDir(), "x.tar")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sparseArchive is archive with the last file written as a GNU sparse file
// (typeflag 'S'), which tar readers expand to its declared size.
func sparseArchive(t *testing.T, files ...[2]string) string {
	t.Helper()
	p := archive(t, files...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
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
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportRejectsBadArchives(t *testing.T) {
	src := newTestCache(t)
	es := src.Fill("f", 2, nil)
	good := filepath.Join(t.TempDir(), "good.tar")
	runCLICode(t, 0, "export", "f", good, "-dir", src.Dir)
	// Take the good archive apart to build bad ones from its pieces.
	f, _ := os.Open(good)
	tr := tar.NewReader(f)
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
	f.Close()
	if len(parts) != 4 {
		t.Fatalf("archive has %d files, want header, entries and 2 objects", len(parts))
	}
	head, ents, obj0, obj1 := parts[0], parts[1], parts[2], parts[3]
	// The archive format, as its readers see it.
	const archiveHeader, archiveEntries, maxHeaderBytes = "pcache-export.json", "entries.cbor", 64 << 10
	hdr := func(v int, entries, objects int) [2]string {
		b, _ := json.Marshal(map[string]any{"format": "pcache-export", "version": v, "name": "f", "entries": entries, "objects": objects})
		return [2]string{archiveHeader, string(b)}
	}
	bigHeader := [2]string{archiveHeader, strings.Repeat(" ", maxHeaderBytes+1)}
	cases := map[string]string{
		"traversal":      archive(t, head, ents, obj0, obj1, [2]string{"objects/../../evil", "x"}),
		"absolute":       archive(t, head, ents, obj0, [2]string{"/" + obj1[0], obj1[1]}),
		"unknown file":   archive(t, head, ents, obj0, obj1, [2]string{"README", "hi"}),
		"oversize":       archive(t, bigHeader, ents, obj0, obj1),
		"missing object": archive(t, hdr(1, 2, 1), ents, obj0),
		"bad hash":       archive(t, head, ents, obj0, [2]string{obj1[0], obj1[1][:len(obj1[1])-1] + "!"}),
		"wrong name":     archive(t, head, ents, obj0, [2]string{obj1[0], obj0[1]}),
		"version":        archive(t, hdr(99, 2, 2), ents, obj0, obj1),
		"no header":      archive(t, ents, obj0, obj1),
		"garbage cbor":   archive(t, head, [2]string{archiveEntries, "\xff\xff"}, obj0, obj1),
		"empty":          archive(t),
		"unreferenced":   archive(t, hdr(1, 2, 3), ents, obj0, obj1, [2]string{layout.ObjectRel(cas.Sum([]byte("extra"))), "extra"}),
		"symlink":        archive(t, head, ents, obj0, [2]string{"symlink:" + obj1[0], "/etc/passwd"}),
		"sparse":         sparseArchive(t, head, ents, obj0, obj1),
	}
	for name, p := range cases {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			dst := t.TempDir()
			runCLICode(t, 0, "init", "-dir", dst)
			r := runCLICode(t, 1, "import", p, "-dir", dst)
			t.Log(strings.TrimSpace(r.stderr))
			if !strings.Contains(r.stderr, "not a valid pcache export: ") || strings.Contains(r.stderr, "invalid tar header") {
				t.Errorf("stderr: %s", r.stderr)
			}
			names, _ := manifest.List(layout.New(dst))
			if len(names) != 0 {
				t.Errorf("a rejected import added functions %v", names)
			}
		})
	}
	_ = es
}
