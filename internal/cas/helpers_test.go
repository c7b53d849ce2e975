package cas

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/layout"
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
	s, err := Open(layout.New(filepath.Join(t.TempDir(), "cache")), Options{Now: clk.Now, PackLimit: -1}) // loose objects; pack_test.go tests packs
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

// tempEntries lists <root>/tmp.
func tempEntries(t testing.TB, s *Store) []string {
	t.Helper()
	es, err := os.ReadDir(s.tmpDir)
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

// walkObjects calls fn for every loose object.
func (s *Store) walkObjects(fn func(ID, fs.FileInfo) error) error {
	return s.WalkAll(WalkFuncs{Object: fn})
}

// statObject is Lstat of a loose object's file, with the store's error
// classification.
func (s *Store) statObject(id ID) (fs.FileInfo, error) {
	path := s.Path(id)
	fi, err := os.Lstat(path)
	if err != nil {
		if isAbsent(err) {
			return nil, notFound(err)
		}
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, corrupt(id, path, modeReason(fi.Mode()))
	}
	return fi, nil
}

// putFile stores the file at path.
func putFile(s *Store, path string) (ID, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return ID{}, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ID{}, 0, err
	}
	if !fi.Mode().IsRegular() {
		return ID{}, 0, fmt.Errorf("put file %s: not a regular file", path)
	}
	return s.PutReader(f)
}
