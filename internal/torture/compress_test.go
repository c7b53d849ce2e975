package torture_test

import (
	"archive/tar"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil"
)

// reportOf is a JSON-like result of a few hundred KiB: records with
// repeating keys and varying values, as a report or an API response is.
// Each is built once per process (reports): the tests compute and compare
// them hundreds of times.
func reportOf(k int) string {
	reportsMu.Lock()
	defer reportsMu.Unlock()
	r, ok := reports[k]
	if !ok {
		r = buildReport(k)
		reports[k] = r
	}
	return r
}

var (
	reportsMu sync.Mutex
	reports   = map[int]string{}
)

func buildReport(k int) string {
	var b strings.Builder
	b.Grow(300 << 10)
	b.WriteString(`{"report":` + fmt.Sprint(k) + `,"rows":[`)
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"user-%d","score":%d.%02d,"tags":["x","y"],"active":%v},`, k*100000+i, (i*31+k)%977, (i*7919+k)%1000, i%100, i%3 == 0)
	}
	b.WriteString(`{}]}`)
	return b.String()
}

// noiseOf is an incompressible result (stored raw even under Compress).
func noiseOf(k int) []byte {
	b := make([]byte, 200<<10)
	x := uint64(k)*0x9e3779b97f4a7c15 + 7
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 32)
	}
	return b
}

// compressedFuncs wraps the two functions of the compression tests;
// compress says whether they ask for compression, computed counts calls.
func compressedFuncs(s *pcache.Store, compress bool, computed *int) (*pcache.Func[int, string], *pcache.Func[int, []byte]) {
	var opts []pcache.Option
	if compress {
		opts = append(opts, pcache.Compress(0))
	}
	report := pcache.MustWrap(s, "zstd/report", func(_ context.Context, k int) (string, error) {
		*computed++
		return reportOf(k), nil
	}, opts...)
	noise := pcache.MustWrap(s, "zstd/noise", func(_ context.Context, k int) ([]byte, error) {
		*computed++
		return noiseOf(k), nil
	}, opts...)
	return report, noise
}

// fillCompressed calls report for keys [lo, hi) and noise for [lo, lo+3) in dir.
func fillCompressed(t *testing.T, dir string, compress bool, lo, hi int) {
	t.Helper()
	s := openStore(t, dir)
	defer s.Close()
	var n int
	report, noise := compressedFuncs(s, compress, &n)
	ctx := context.Background()
	for k := lo; k < hi; k++ {
		if got := mustCall(t, report, ctx, k); got != reportOf(k) {
			t.Fatalf("report(%d): wrong value on a miss", k)
		}
	}
	for k := lo; k < lo+3; k++ {
		if got := mustCall(t, noise, ctx, k); string(got) != string(noiseOf(k)) {
			t.Fatalf("noise(%d): wrong value on a miss", k)
		}
	}
}

// serveCompressed requires every key of [lo, hi) (and noise's [0, 3) and
// [hiNoise-3, hiNoise)) to hit in dir, with the value the function
// computes, whether its entry's object is raw or compressed.
func serveCompressed(t *testing.T, dir string, lo, hi int, noiseKeys ...int) {
	t.Helper()
	s := openStore(t, dir)
	defer s.Close()
	var n int
	report, noise := compressedFuncs(s, false, &n) // how it reads does not depend on the option
	ctx := pcache.ErrorOnMiss(context.Background())
	for k := lo; k < hi; k++ {
		got, err := report.Call(ctx, k)
		if err != nil || got != reportOf(k) {
			t.Fatalf("%s: report(%d): %d bytes, %v", dir, k, len(got), err)
		}
	}
	for _, k := range noiseKeys {
		got, err := noise.Call(ctx, k)
		if err != nil || string(got) != string(noiseOf(k)) {
			t.Fatalf("%s: noise(%d): %d bytes, %v", dir, k, len(got), err)
		}
	}
}

// zstFiles returns the compressed objects under dir's objects/, and the
// bytes they hold on disk.
func zstFiles(t *testing.T, dir string) (paths []string, bytes int64) {
	t.Helper()
	filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".zst") {
			paths = append(paths, p)
			if fi, err := d.Info(); err == nil {
				bytes += fi.Size()
			}
		}
		return nil
	})
	return paths, bytes
}

// layoutVersion returns the version dir's pcache.json names.
func layoutVersion(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "pcache.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Version
}

// objectIDOf returns the object ID a .zst path names.
func objectIDOf(p string) string {
	return filepath.Base(filepath.Dir(p)) + strings.TrimSuffix(filepath.Base(p), ".zst")
}

// TestCompressedCaches is compression end to end, through the public API
// and the real pcache-fsck: a cache that compresses (started from the
// frozen cache of the previous release, so its old entries must keep
// serving beside the compressed ones) and one that does not are rsynced
// into each other with the README's commands; both then serve every entry
// of both, check clean, and say layout 2 (the longer marker travels). Then
// cat-object prints an object's uncompressed bytes (its BLAKE3 is its ID),
// export/import carries the compression into a new cache, a damaged
// compressed object is found by check, set aside by check -repair and
// computed again, and gc collects compressed objects no entry needs. (The
// checks that only say "clean" run pcache-fsck's check in this process,
// libCheckClean, but for the one after check -repair.)
func TestCompressedCaches(t *testing.T) {
	needRsync(t)
	a, b := filepath.Join(t.TempDir(), "a"), t.TempDir()
	if err := testutil.CopyTree(filepath.Join("..", "..", "testdata", "cache-v2"), a, "locks", "tmp"); err != nil {
		t.Fatal(err)
	}
	zs := compressedFill(t, a, b)

	rsync(t, a+"/", b+"/")
	rsync(t, b+"/", a+"/")
	if va, vb := layoutVersion(t, a), layoutVersion(t, b); va != 2 || vb != 2 {
		t.Fatalf("after the sync: layout versions A %d, B %d; want 2 on both (B holds compressed objects now)", va, vb)
	}
	for _, dir := range []string{a, b} {
		serveCompressed(t, dir, 0, 30, 0, 1, 2, 10, 11, 12)
		libCheckClean(t, dir)
	}
	checkFrozen(t, a) // the previous release's entries, beside the compressed ones

	compressedCatObject(t, b, objectIDOf(zs[0]))
	compressedExportImport(t, a)
	compressedRepair(t, a, zs[3])
	compressedGC(t, b)
}

// compressedFill fills A (which compresses) with keys 0 to 20 and B (which
// does not) with keys 10 to 30, and requires A to hold the 20 reports
// compressed (noise stays raw) at least 3x smaller than raw, B to hold no
// compressed object, layout versions 2 and 1, and both to check clean. It
// returns A's compressed objects.
func compressedFill(t *testing.T, a, b string) []string {
	fillCompressed(t, a, true, 0, 20)
	fillCompressed(t, b, false, 10, 30)
	zs, disk := zstFiles(t, a)
	if len(zs) != 20 {
		t.Fatalf("A holds %d compressed objects, want 20 (the reports; noise stays raw)", len(zs))
	}
	var raw int64
	for k := 0; k < 20; k++ {
		raw += int64(len(mustEncode(t, reportOf(k))))
	}
	if raw < 3*disk {
		t.Errorf("20 JSON-like results of %d bytes take %d compressed: less than 3x smaller", raw, disk)
	}
	t.Logf("JSON-like results: %d bytes in %d on disk (%.1fx)", raw, disk, float64(raw)/float64(disk))
	if n, _ := zstFiles(t, b); len(n) != 0 {
		t.Fatalf("B, which does not compress, holds %d compressed objects", len(n))
	}
	if va, vb := layoutVersion(t, a), layoutVersion(t, b); va != 2 || vb != 1 {
		t.Fatalf("layout versions: A %d (compresses), B %d (does not); want 2 and 1", va, vb)
	}
	libCheckClean(t, a)
	libCheckClean(t, b)
	return zs
}

// compressedCatObject requires cat-object of the compressed object id in
// dir to print what b3sum hashes to the ID.
func compressedCatObject(t *testing.T, dir, id string) {
	out, err := exec.Command(fsckBinary(t), "cat-object", "-dir", dir, id).Output()
	if err != nil {
		t.Fatalf("cat-object: %v", err)
	}
	if sum := blake3.Sum256(out); hex.EncodeToString(sum[:]) != id {
		t.Fatalf("cat-object of %s printed %d bytes hashing to %x", id, len(out), sum)
	}
}

// compressedExportImport exports zstd/report from a: the archive holds
// plain bytes named by their hash; a new cache that imports it stores them
// compressed again (30 objects, layout 2), serves them and checks clean.
func compressedExportImport(t *testing.T, a string) {
	tarPath := filepath.Join(t.TempDir(), "report.tar")
	if code, out := fsck(t, "export", "-dir", a, "zstd/report", tarPath); code != 0 {
		t.Fatalf("export: %d\n%s", code, out)
	}
	checkArchive(t, tarPath)
	c := filepath.Join(t.TempDir(), "c")
	if code, out := fsck(t, "init", "-dir", c); code != 0 {
		t.Fatalf("init: %d\n%s", code, out)
	}
	if code, out := fsck(t, "import", "-dir", c, tarPath); code != 0 {
		t.Fatalf("import: %d\n%s", code, out)
	}
	if n, _ := zstFiles(t, c); len(n) != 30 || layoutVersion(t, c) != 2 {
		t.Fatalf("import stored %d compressed objects (want 30), layout %d", len(n), layoutVersion(t, c))
	}
	serveCompressed(t, c, 0, 30)
	libCheckClean(t, c)
}

// compressedRepair damages the compressed object victim in a: check finds
// it, repair sets it aside and drops its entry, and the next calls compute
// the right value for it alone.
func compressedRepair(t *testing.T, a, victim string) {
	flipByte(t, victim, 0.5)
	code, rep := fsckCheck(t, a)
	if code != 1 || !strings.Contains(rep.String(), "hash-mismatch "+strings.TrimPrefix(victim, a+"/")) {
		t.Fatalf("check of a damaged compressed object exited %d:\n%s", code, rep)
	}
	if code, out := fsck(t, "check", "-repair", "-dir", a); code != 0 {
		t.Fatalf("check -repair: %d\n%s", code, out)
	}
	checkClean(t, a)
	s := openStore(t, a)
	var n int
	report, _ := compressedFuncs(s, true, &n)
	for k := 0; k < 30; k++ {
		if got := mustCall(t, report, context.Background(), k); got != reportOf(k) {
			t.Fatalf("report(%d) after repair: wrong value", k)
		}
	}
	s.Close()
	if n != 1 {
		t.Fatalf("%d computations after repairing one damaged object, want 1", n)
	}
}

// compressedGC removes zstd/report from b and requires gc to collect its
// compressed objects, no entry naming them any more, leaving b clean and
// serving the noise entries.
func compressedGC(t *testing.T, b string) {
	if code, out := fsck(t, "rm", "-dir", b, "zstd/report"); code != 0 {
		t.Fatalf("rm: %d\n%s", code, out)
	}
	if code, out := fsck(t, "gc", "-grace", "0s", "-dir", b); code != 0 {
		t.Fatalf("gc: %d\n%s", code, out)
	}
	if n, _ := zstFiles(t, b); len(n) != 0 {
		t.Fatalf("gc left %d compressed objects of a removed function", len(n))
	}
	libCheckClean(t, b)
	serveCompressed(t, b, 0, 0, 0, 1, 2, 10, 11, 12)
}

// checkArchive requires every object in an export to hash to its name.
func checkArchive(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	objects := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, "objects/") {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		sum := blake3.Sum256(b)
		if name := strings.ReplaceAll(strings.TrimPrefix(h.Name, "objects/"), "/", ""); hex.EncodeToString(sum[:]) != name {
			t.Fatalf("archive member %s hashes to %x", h.Name, sum)
		}
		objects++
	}
	if objects == 0 {
		t.Fatal("the archive holds no object")
	}
}

// TestCompressedRemote: a machine that compresses publishes its objects
// compressed (objects/<id>.zst on the remote; incompressible ones raw);
// one that does not serves them all from the remote and keeps its own
// cache at layout 1 (downloads decompressed, raw); pcache-fsck remote
// check -verify decompresses them and is clean, gc keeps them while
// entries name them, and a damaged compressed object is reported, removed
// by -repair, and computed again by the next machine.
func TestCompressedRemote(t *testing.T) {
	bucket := t.TempDir()
	url := "file://" + bucket
	open := func(dir string) *pcache.Store { return openStore(t, dir, pcache.Remote(url)) }

	a := open(t.TempDir())
	var computed int
	report, noise := compressedFuncs(a, true, &computed)
	ctx := context.Background()
	for k := 0; k < 8; k++ {
		mustCall(t, report, ctx, k)
	}
	mustCall(t, noise, ctx, 0)
	if err := a.Close(); err != nil { // publishes what is queued
		t.Fatal(err)
	}
	remoteZst, _ := zstFiles(t, bucket)
	if len(remoteZst) != 8 {
		t.Fatalf("the remote holds %d compressed objects, want 8 (the reports)", len(remoteZst))
	}
	// The records naming them are in segments a release before
	// compression cannot read (so its remote gc leaves them alone instead
	// of taking the objects for missing); the noise's are not.
	versions := map[uint64]int{}
	segs, _ := filepath.Glob(filepath.Join(bucket, "fn", "*", "segments", "s-*"))
	for _, p := range segs {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := record.ParseHeader(data, record.SegmentFormat)
		if err != nil {
			t.Fatal(err)
		}
		versions[h.Version]++
	}
	if versions[record.ZstdVersion] == 0 {
		t.Fatalf("no remote segment of format %d (versions %v)", record.ZstdVersion, versions)
	}

	// A machine that does not compress serves everything from the remote.
	bdir := t.TempDir()
	b := open(bdir)
	computed = 0
	report, noise = compressedFuncs(b, false, &computed)
	for k := 0; k < 8; k++ {
		if got := mustCall(t, report, ctx, k); got != reportOf(k) {
			t.Fatalf("report(%d) from the remote: wrong value", k)
		}
	}
	if got := mustCall(t, noise, ctx, 0); string(got) != string(noiseOf(0)) {
		t.Fatal("noise(0) from the remote: wrong value")
	}
	b.Close()
	if computed != 0 {
		t.Fatalf("%d computations on a machine whose remote has every entry", computed)
	}
	if n, _ := zstFiles(t, bdir); len(n) != 0 || layoutVersion(t, bdir) != 1 {
		t.Fatalf("a cache that does not compress holds %d compressed objects after remote hits, layout %d", len(n), layoutVersion(t, bdir))
	}
	libCheckClean(t, bdir) // pcache-fsck's check, in this process: the binary runs the remote commands below

	remote := func(args ...string) (int, string) {
		return fsck(t, append([]string{"remote"}, append(args, "-remote", url)...)...)
	}
	if code, out := remote("check", "-verify"); code != 0 {
		t.Fatalf("remote check -verify: %d\n%s", code, out)
	}
	if code, out := remote("gc", "-grace", "0s"); code != 0 {
		t.Fatalf("remote gc: %d\n%s", code, out)
	}
	if n, _ := zstFiles(t, bucket); len(n) != 8 {
		t.Fatalf("remote gc left %d of the 8 compressed objects entries name", len(n))
	}

	flipByte(t, remoteZst[2], 0.5)
	code, out := remote("check", "-verify")
	if code != 1 || !strings.Contains(out, strings.TrimPrefix(remoteZst[2], bucket+"/")) {
		t.Fatalf("remote check -verify of a damaged compressed object: %d\n%s", code, out)
	}
	if code, out := remote("check", "-verify", "-repair"); code == 2 {
		t.Fatalf("remote check -repair: %d\n%s", code, out)
	}
	if _, err := os.Stat(remoteZst[2]); !os.IsNotExist(err) {
		t.Fatalf("repair left the damaged object: %v", err)
	}
	c := open(t.TempDir())
	computed = 0
	report, _ = compressedFuncs(c, false, &computed)
	for k := 0; k < 8; k++ {
		if got := mustCall(t, report, ctx, k); got != reportOf(k) {
			t.Fatalf("report(%d) after the remote lost an object: wrong value", k)
		}
	}
	c.Close()
	if computed != 1 {
		t.Fatalf("%d computations with one remote object gone, want 1", computed)
	}
}

// TestCompressedCacheMarkerLost: compressed objects in a cache whose marker
// says layout 1 (copied in by a sync that skipped pcache.json, or the
// marker restored from an old backup) are an error for check, since the
// previous release would take them for strays; check -repair raises the
// marker and drops nothing.
func TestCompressedCacheMarkerLost(t *testing.T) {
	dir, plain := t.TempDir(), t.TempDir()
	fillCompressed(t, dir, true, 0, 3)
	openStore(t, plain).Close()
	old, err := os.ReadFile(filepath.Join(plain, "pcache.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pcache.json"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	code, rep := fsckCheck(t, dir)
	if code != 1 || !strings.Contains(rep.String(), "bad-marker pcache.json: the cache holds compressed objects") {
		t.Fatalf("check of compressed objects under a layout-1 marker: exit %d\n%s", code, rep)
	}
	if code, out := fsck(t, "check", "-repair", "-dir", dir); code != 0 {
		t.Fatalf("check -repair: %d\n%s", code, out)
	}
	if v := layoutVersion(t, dir); v != 2 {
		t.Fatalf("layout %d after repair, want 2", v)
	}
	checkClean(t, dir)
	serveCompressed(t, dir, 0, 3, 0, 1, 2)
}
