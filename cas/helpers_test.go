package cas

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newStore opens a store in a fresh temp dir with a fake clock set to now
// (truncated to the second, which every file system can store).
func newStore(t testing.TB) (*Store, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Now().Truncate(time.Second)}
	s, err := Open(filepath.Join(t.TempDir(), "cache"), Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func mustPut(t testing.TB, s *Store, b []byte) ID {
	t.Helper()
	id, err := s.Put(b)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// content returns n deterministic bytes that differ with seed: a 64 KiB
// pseudo-random block, repeated with each repetition's index stamped in
// (cheap to make even under the race detector).
func content(seed uint64, n int) []byte {
	const block = 64 << 10
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := 0; i < min(n, block); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		copy(b[i:], w[:])
	}
	for off := block; off < n; off += block {
		copy(b[off:], b[:block])
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], uint64(off))
		copy(b[off:], w[:])
	}
	return b
}

// tempEntries lists <root>/tmp.
func tempEntries(t testing.TB, s *Store) []string {
	t.Helper()
	es, err := os.ReadDir(s.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func mtime(t testing.TB, path string) time.Time {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func setFileMtime(t testing.TB, path string, tm time.Time) {
	t.Helper()
	if err := os.Chtimes(path, tm, tm); err != nil {
		t.Fatal(err)
	}
}

// rewrite replaces the bytes of an existing object file in place, keeping
// its name.
func rewrite(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bytesReader is a minimal io.Reader over b (no WriterTo, like a network
// stream).
func bytesReader(b []byte) *sliceReader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
