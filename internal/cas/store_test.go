package cas

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/testutil"
)

func TestOpenCreatesLayout(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "a", "b")
	s, err := Open(layout.New(root), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.d.Root() != root {
		t.Errorf("Root() = %q, want %q", s.d.Root(), root)
	}
	for _, d := range []string{"objects", "tmp"} {
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil || !fi.IsDir() {
			t.Errorf("%s: not a directory after Open: %v", d, err)
		}
	}
	if s.tmpDir != filepath.Join(root, "tmp") {
		t.Errorf("TempDir() = %q", s.tmpDir)
	}
	// Reopening an existing store works.
	if _, err := Open(layout.New(root), Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsNonDirectories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	badObjects := filepath.Join(dir, "badobjects")
	if err := os.MkdirAll(badObjects, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(badObjects, "objects"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, root, want string }{
		{"empty", "", "empty root"},
		{"root is a file", file, "not a directory"},
		{"objects is a file", badObjects, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(layout.New(tc.root), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open(%q) = %v, want error containing %q", tc.root, err, tc.want)
			}
		})
	}
}

func TestPathLayoutMatchesB3sum(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	b := []byte("hello, world\n")
	id := mustPut(t, s, b)
	want := blake3.Sum256(b) // what b3sum prints
	hexs := ID(want).String()
	if id != ID(want) {
		t.Fatalf("Put returned %s, want %s", id, hexs)
	}
	wantPath := filepath.Join(s.d.Root(), "objects", hexs[:2], hexs[2:])
	if got := s.Path(id); got != wantPath {
		t.Fatalf("Path = %q, want %q", got, wantPath)
	}
	if !bytes.Equal(readFile(t, wantPath), b) {
		t.Fatal("object file does not hold the bytes")
	}
}

func TestObjectsAreReadOnly(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	for _, put := range []func() (ID, error){
		func() (ID, error) { return s.Put([]byte("a")) },
		func() (ID, error) { id, _, err := s.PutReader(strings.NewReader("b")); return id, err },
	} {
		id, err := put()
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(s.Path(id))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o222 != 0 {
			t.Errorf("object %s has mode %v, want no write bits", id, perm)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 100, 4096, bufSize - 1, bufSize, bufSize + 1, 3*bufSize + 17, pipelineMin + pipelineChunk/2}
	s, _ := newStore(t)
	srcDir := t.TempDir()
	for _, n := range sizes {
		b := testutil.Bytes(uint64(n), n)
		want := Sum(b)
		// Each way in must give the same ID...
		id1 := mustPut(t, s, b)
		id2, n2, err := s.PutReader(iotestHalfReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(srcDir, "f")
		if err := os.WriteFile(src, b, 0o644); err != nil {
			t.Fatal(err)
		}
		id3, n3, err := putFile(s, src)
		if err != nil {
			t.Fatal(err)
		}
		if id1 != want || id2 != want || id3 != want || n2 != int64(n) || n3 != int64(n) {
			t.Fatalf("size %d: ids %s %s %s sizes %d %d, want %s", n, id1, id2, id3, n2, n3, want)
		}
		// ...and each way out the same bytes.
		got, err := s.Get(want, -1)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("size %d: Get: %v (equal=%v)", n, err, bytes.Equal(got, b))
		}
		if got, err = s.Get(want, int64(n)); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("size %d: GetSize: %v", n, err)
		}
		r, err := s.Open(want)
		if err != nil {
			t.Fatal(err)
		}
		if r.Size() != int64(n) || r.ID() != want {
			t.Fatalf("Reader Size %d ID %s", r.Size(), r.ID())
		}
		var all bytes.Buffer
		all.Grow(n + bytes.MinRead) // read into place, not grown by copying
		_, err = all.ReadFrom(iotestHalfReader(r))
		if got = all.Bytes(); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("size %d: Open+ReadAll: %v", n, err)
		}
		r.Close()
		r.Close() // twice is fine
		if _, err := r.Read(make([]byte, 1)); err == nil {
			t.Fatal("Read after Close succeeded")
		}
		// io.Copy takes the WriterTo path.
		r, _ = s.Open(want)
		var buf bytes.Buffer
		buf.Grow(n)
		if m, err := io.Copy(&buf, r); err != nil || m != int64(n) || !bytes.Equal(buf.Bytes(), b) {
			t.Fatalf("size %d: io.Copy: %d, %v", n, m, err)
		}
		r.Close()
		dst, err := os.Create(filepath.Join(srcDir, "dst"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dst.WriteString("prefix"); err != nil {
			t.Fatal(err)
		}
		if m, err := s.CopyTo(want, dst); err != nil || m != int64(n) {
			t.Fatalf("size %d: CopyTo: %d, %v", n, m, err)
		}
		dst.Close()
		if got := readFile(t, dst.Name()); !bytes.Equal(got, append([]byte("prefix"), b...)) {
			t.Fatalf("size %d: CopyTo wrote %d bytes, not prefix+object", n, len(got))
		}
		if err := s.Verify(want); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Has(want); !ok || err != nil {
			t.Fatalf("Has = %v, %v", ok, err)
		}
		if fi, err := s.statObject(want); err != nil || fi.Size() != int64(n) {
			t.Fatalf("Stat = %v, %v", fi, err)
		}
	}
	if names := tempEntries(t, s); len(names) != 0 {
		t.Fatalf("temp files left behind: %v", names)
	}
}

// iotestHalfReader returns short reads, to exercise the loops.
func iotestHalfReader(r io.Reader) io.Reader { return halfReader{r} }

type halfReader struct{ r io.Reader }

func (h halfReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:(len(p)+1)/2]
	}
	return h.r.Read(p)
}

func TestPutFileRejectsNonRegular(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	if _, _, err := putFile(s, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("PutFile(dir) = %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, _, err := putFile(s, missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("PutFile(missing) = %v", err)
	}
}

func TestPutFileFollowsCallerSymlink(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "real"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(dir, "link")); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	id, n, err := putFile(s, filepath.Join(dir, "link"))
	if err != nil || n != 4 || id != Sum([]byte("data")) {
		t.Fatalf("PutFile(link) = %s, %d, %v", id, n, err)
	}
}

func TestMissingIsErrNotFound(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	id := Sum([]byte("never stored"))
	path := s.Path(id)
	dst, err := os.CreateTemp(t.TempDir(), "dst")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	ops := map[string]func() error{
		"Get":        func() error { _, err := s.Get(id, -1); return err },
		"GetSize":    func() error { _, err := s.Get(id, 3); return err },
		"Open":       func() error { _, err := s.Open(id); return err },
		"CopyTo":     func() error { _, err := s.CopyTo(id, dst); return err },
		"Verify":     func() error { return s.Verify(id) },
		"Stat":       func() error { _, err := s.statObject(id); return err },
		"Quarantine": func() error { _, err := s.Quarantine(id); return err },
	}
	for name, op := range ops {
		err := op()
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		} else if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name %s", name, err, path)
		}
	}
	if ok, err := s.Has(id); ok || err != nil {
		t.Errorf("Has = %v, %v", ok, err)
	}
	if err := s.Delete(id); err != nil {
		t.Errorf("Delete of absent object: %v", err)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	id := mustPut(t, s, []byte("doomed"))
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(id); ok {
		t.Fatal("object still there after Delete")
	}
	// A directory at the object's path is moved aside, not destroyed.
	if err := os.Mkdir(s.Path(id), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Path(id), "user-data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.Path(id)); !os.IsNotExist(err) {
		t.Fatalf("directory still at object path: %v", err)
	}
	found, _ := filepath.Glob(filepath.Join(s.lostDir, id.String()+".*", "user-data"))
	if len(found) != 1 {
		t.Fatalf("directory not in lost+found: %v", found)
	}
}

func TestGetSizeMismatchDoesNotRead(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	id := mustPut(t, s, []byte("12345"))
	_, err := s.Get(id, 4)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.ID != id || ce.Path != s.Path(id) || !strings.Contains(ce.Reason, "size 5, want 4") {
		t.Fatalf("GetSize with wrong size: %v", err)
	}
	if _, err := s.Get(id, -2); err == nil {
		t.Fatal("negative size accepted")
	}
}
