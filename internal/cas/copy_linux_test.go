package cas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pcache/pcache/internal/testutil"
)

// CopyTo must produce the object's bytes whatever dst is: copy_file_range
// works for some destinations and must fall back cleanly for the others.
// Not parallel: it sets the package's useCopyFileRange.
func TestCopyToDestinations(t *testing.T) {
	s, _ := newStore(t)
	obj := testutil.Bytes(5, 2*bufSize+123)
	id := mustPut(t, s, obj)
	dir := t.TempDir()
	prefix := []byte("already here:")

	type dest struct {
		open   func(t *testing.T) (*os.File, func() []byte)
		kernel bool // copy_file_range is expected to do the copy
	}
	regular := func(flags int, dir string) func(t *testing.T) (*os.File, func() []byte) {
		return func(t *testing.T) (*os.File, func() []byte) {
			p := filepath.Join(dir, "dst")
			must(t, os.WriteFile(p, prefix, 0o644))
			f, err := os.OpenFile(p, os.O_RDWR|flags, 0)
			must(t, err)
			if flags&os.O_APPEND == 0 {
				_, err = f.Seek(int64(len(prefix)), io.SeekStart)
				must(t, err)
			}
			return f, func() []byte { return readFile(t, p) }
		}
	}
	dests := map[string]dest{
		"regular file at offset": {open: regular(0, dir), kernel: true},
		"O_APPEND file":          {open: regular(os.O_APPEND, dir)},
		"pipe": {open: func(t *testing.T) (*os.File, func() []byte) {
			r, w, err := os.Pipe()
			must(t, err)
			got := make(chan []byte)
			go func() {
				b, _ := io.ReadAll(r)
				r.Close()
				got <- b
			}()
			w.Write(prefix)
			return w, func() []byte { w.Close(); return <-got }
		}},
	}
	if shm, err := os.MkdirTemp("/dev/shm", "cas-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(shm) })
		dests["file on another file system"] = dest{open: regular(0, shm)}
	}
	for name, d := range dests {
		for _, kernel := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/copy_file_range=%v", name, kernel), func(t *testing.T) {
				useCopyFileRange = kernel
				t.Cleanup(func() { useCopyFileRange = true })
				f, result := d.open(t)
				before := copiedInKernel.Load()
				n, err := s.CopyTo(id, f)
				if err != nil || n != int64(len(obj)) {
					t.Fatalf("CopyTo = %d, %v", n, err)
				}
				if !kernel && copiedInKernel.Load() != before {
					t.Error("copy_file_range used while disabled")
				}
				if kernel && d.kernel && copiedInKernel.Load() == before {
					t.Log("copy_file_range not used for a same-file-system regular file")
				}
				got := result()
				f.Close()
				if !bytes.Equal(got, append(bytes.Clone(prefix), obj...)) {
					t.Fatalf("dst holds %d bytes, not prefix+object (%d)", len(got), len(prefix)+len(obj))
				}
			})
		}
	}
}

// A corrupt object is reported even when the kernel did the copying.
func TestCopyToCorruptInKernel(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	obj := testutil.Bytes(6, bufSize+1)
	id := mustPut(t, s, obj)
	bad := bytes.Clone(obj)
	bad[bufSize] ^= 1
	rewrite(t, s.Path(id), bad)
	f, err := os.Create(filepath.Join(t.TempDir(), "dst"))
	must(t, err)
	defer f.Close()
	if _, err := s.CopyTo(id, f); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("CopyTo = %v, want ErrCorrupt", err)
	}
}
