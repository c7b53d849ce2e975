package pcache_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache"
)

// blobPattern writes n bytes of a pattern that depends on seed, in 1 MiB
// writes, without ever holding them whole.
func blobPattern(w io.Writer, n int64, seed byte) error {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*7) ^ seed
	}
	for n > 0 {
		m := min(n, int64(len(buf)))
		if _, err := w.Write(buf[:m]); err != nil {
			return err
		}
		n -= m
		buf[0]++ // no two MiB alike
	}
	return nil
}

// blobSum hashes n bytes of the pattern, and a Blob's bytes.
func patternSum(t *testing.T, n int64, seed byte) [32]byte {
	t.Helper()
	h := blake3.New()
	if err := blobPattern(h, n, seed); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	h.Sum(s[:0])
	return s
}

func blobSum(t *testing.T, b pcache.Blob) [32]byte {
	t.Helper()
	r, err := b.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := blake3.New()
	if n, err := io.Copy(h, r); err != nil || n != b.Size() {
		t.Fatalf("read blob: %d bytes of %d, %v", n, b.Size(), err)
	}
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// TestBlob: a function that returns a Blob writes it with WriteBlob and
// callers read it back from the store, whole or in part (io.ReaderAt): on
// the miss, on hits in this process and the next, on another machine
// through the remote, and under ModeOff (where it is a temp file). A
// damaged object is a miss, computed again; a Blob written outside a call
// (a memoized function has no context) is copied in.
func TestBlob(t *testing.T) {
	ctx := context.Background()
	dir, remote := t.TempDir(), "file://"+t.TempDir()
	var computed atomic.Int64
	const size = 3<<20 + 12345
	fn := func(ctx context.Context, seed int) (pcache.Blob, error) {
		computed.Add(1)
		return pcache.WriteBlob(ctx, func(w io.Writer) error { return blobPattern(w, size, byte(seed)) })
	}
	want := patternSum(t, size, 1)
	s := openStore(t, dir, pcache.Remote(remote))
	f := pcache.MustWrap(s, "data/blob", fn)
	for i, what := range []string{"miss", "hit"} {
		b := mustCall(t, f, ctx, 1)
		if b.Size() != size || blobSum(t, b) != want || computed.Load() != 1 {
			t.Fatalf("%s: size %d, %d computed, or the bytes differ", what, b.Size(), computed.Load())
		}
		r, err := b.Open()
		if err != nil {
			t.Fatal(err)
		}
		part := make([]byte, 100)
		if _, err := r.(io.ReaderAt).ReadAt(part, 2<<20+5); err != nil {
			t.Fatal(err)
		}
		var whole bytes.Buffer
		blobPattern(&whole, 2<<20+105, 1)
		if !bytes.Equal(part, whole.Bytes()[2<<20+5:]) {
			t.Fatalf("%s (%d): ReadAt gave other bytes", what, i)
		}
		r.Close()
	}
	if x, err := f.Explain(ctx, 1); err != nil || !x.Hit {
		t.Fatalf("Explain: %+v, %v", x, err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// ModeOff: a temp file, readable all the same.
	b, err := f.Call(pcache.NoCache(ctx), 1)
	if err != nil || blobSum(t, b) != want {
		t.Fatalf("ModeOff: %v", err)
	}

	// The object damaged on disk: a miss, computed and stored again.
	var obj string
	filepath.Walk(filepath.Join(dir, "objects"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Size() == size {
			obj = p
		}
		return nil
	})
	if obj == "" {
		t.Fatal("no object of the blob's size in the cache")
	}
	os.Chmod(obj, 0o644)
	fh, err := os.OpenFile(obj, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteAt([]byte("damage"), 1<<20)
	fh.Close()
	computed.Store(0)
	if b := mustCall(t, f, ctx, 1); blobSum(t, b) != want || computed.Load() != 1 || f.Stats().Corrupt != 1 {
		t.Fatalf("a damaged blob: %d computed, stats %+v", computed.Load(), f.Stats())
	}
	s.Close()

	// Another machine: served from the remote.
	o := openStore(t, t.TempDir(), pcache.Remote(remote))
	g := pcache.MustWrap(o, "data/blob", fn)
	computed.Store(0)
	if b := mustCall(t, g, ctx, 1); blobSum(t, b) != want || computed.Load() != 0 {
		t.Fatalf("another machine: %d computed", computed.Load())
	}

	// Written outside a call: copied into the store, its temp file removed.
	m := pcache.MustWrap(o, "data/blob-outside", func(_ context.Context, seed int) (pcache.Blob, error) {
		return pcache.WriteBlob(context.Background(), func(w io.Writer) error { return blobPattern(w, size, byte(seed)) })
	})
	if b := mustCall(t, m, ctx, 2); blobSum(t, b) != patternSum(t, size, 2) {
		t.Fatal("a Blob written outside a call reads back other bytes")
	}
	if b := mustCall(t, m, ctx, 2); blobSum(t, b) != patternSum(t, size, 2) || m.Stats().Hits != 1 {
		t.Fatalf("a Blob written outside a call: no hit (%+v)", m.Stats())
	}
}

func init() {
	if os.Getenv("PCACHE_BLOB_CHILD") != "" {
		blobChild()
		os.Exit(0)
	}
}

// blobChild is the process TestBlobLargerThanMemory runs: it calls the
// blob function of the cache in PCACHE_BLOB_CHILD once (computing or
// hitting), reads the Blob through, and prints its hash, whether it was
// computed, and its own peak RSS.
func blobChild() {
	dir := os.Getenv("PCACHE_BLOB_CHILD")
	size, _ := strconv.ParseInt(os.Getenv("PCACHE_BLOB_SIZE"), 10, 64)
	s, err := pcache.Open(dir)
	if err != nil {
		panic(err)
	}
	computed := false
	f := pcache.MustWrap(s, "data/huge", func(ctx context.Context, seed int) (pcache.Blob, error) {
		computed = true
		return pcache.WriteBlob(ctx, func(w io.Writer) error { return blobPattern(w, size, byte(seed)) })
	})
	b, err := f.Call(context.Background(), 3)
	if err != nil {
		panic(err)
	}
	r, err := b.Open()
	if err != nil {
		panic(err)
	}
	h := blake3.New()
	if _, err := io.Copy(h, r); err != nil {
		panic(err)
	}
	r.Close()
	s.Close()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	json.NewEncoder(os.Stdout).Encode(map[string]any{"sum": fmt.Sprintf("%x", h.Sum(nil)), "computed": computed, "maxrss_kib": ru.Maxrss, "size": b.Size()})
}

// TestBlobLargerThanMemory: a result of more than 4 GiB is produced and
// read back by processes whose peak RSS stays under 256 MiB. (-short: 16
// MiB, the same paths.)
func TestBlobLargerThanMemory(t *testing.T) {
	size := int64(4<<30 + 1<<20)
	if testing.Short() {
		size = 16 << 20
	}
	dir := filepath.Join(t.TempDir(), "cache")
	var sums []string
	for _, want := range []bool{true, false} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PCACHE_BLOB_CHILD="+dir, "PCACHE_BLOB_SIZE="+strconv.FormatInt(size, 10))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		var res struct {
			Sum      string
			Computed bool
			Maxrss   int64 `json:"maxrss_kib"`
			Size     int64
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("child said %q: %v", out, err)
		}
		what := map[bool]string{true: "miss", false: "hit"}[want]
		t.Logf("%s of a %d-byte blob: peak RSS %d MiB", what, size, res.Maxrss>>10)
		if res.Computed != want || res.Size != size {
			t.Fatalf("%s: computed %v, size %d", what, res.Computed, res.Size)
		}
		if res.Maxrss > 256<<10 {
			t.Fatalf("%s: peak RSS %d MiB, want under 256 MiB", what, res.Maxrss>>10)
		}
		sums = append(sums, res.Sum)
	}
	if want := fmt.Sprintf("%x", patternSum(t, size, 3)); sums[0] != want || sums[1] != want {
		t.Fatalf("the blob read back other bytes: %v, want %s", sums, want)
	}
}
