package cas

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/pcache/pcache/internal/testutil"
)

// failWrites makes every temp-file write fail like a full disk, after
// letting the first okWrites calls through.
func failWrites(t *testing.T, okWrites int) {
	t.Helper()
	orig := tempWrite
	t.Cleanup(func() { tempWrite = orig })
	tempWrite = func(f *os.File, b []byte) (int, error) {
		if okWrites > 0 {
			okWrites--
			return orig(f, b)
		}
		return 0, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
}

// failingReader returns data, then an error.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("source broke")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

// Not parallel: it swaps the package's tempWrite (failWrites).
func TestFailedWriteLeavesNothing(t *testing.T) {
	big := testutil.Bytes(3, 3*bufSize)
	for _, tc := range []struct {
		name    string
		okWrite int
		put     func(s *Store) error
		want    func(error) bool
		names   string // substring of the error: the object or temp path
	}{
		{"Put ENOSPC", 0, func(s *Store) error { _, err := s.Put([]byte("x")); return err },
			func(err error) bool { return errors.Is(err, syscall.ENOSPC) }, "objects"},
		{"PutReader ENOSPC midway", 1, func(s *Store) error { _, _, err := s.PutReader(bytes.NewReader(big)); return err },
			func(err error) bool { return errors.Is(err, syscall.ENOSPC) }, "stream"},
		{"PutReader source error", 100, func(s *Store) error { _, _, err := s.PutReader(&failingReader{n: 5000}); return err },
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "source broke") }, "stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			failWrites(t, tc.okWrite)
			err := tc.put(s)
			if !tc.want(err) {
				t.Fatalf("got %v", err)
			}
			if !strings.Contains(err.Error(), tc.names) {
				t.Errorf("error %q does not name %q", err, tc.names)
			}
			if errors.Is(err, syscall.ENOSPC) && !strings.Contains(err.Error(), s.tmpDir) {
				t.Errorf("error %q does not name the temp file", err)
			}
			if names := tempEntries(t, s); len(names) != 0 {
				t.Errorf("temp files left: %v", names)
			}
			n := 0
			must(t, s.walkObjects(func(ID, fs.FileInfo) error { n++; return nil }))
			if n != 0 {
				t.Errorf("%d objects after a failed put", n)
			}
		})
	}
}

// Not parallel: it swaps the package's createTemp.
func TestCreateTempFailure(t *testing.T) {
	s, _ := newStore(t)
	orig := createTemp
	t.Cleanup(func() { createTemp = orig })
	createTemp = func(dir, prefix string, perm os.FileMode) (*os.File, error) {
		return nil, &fs.PathError{Op: "open", Path: dir + "/x.tmp", Err: syscall.EROFS}
	}
	if _, err := s.Put([]byte("x")); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("Put = %v", err)
	}
	if _, _, err := s.PutReader(strings.NewReader("x")); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("PutReader = %v", err)
	}
}

// A temp file whose rename fails (here: the tmp directory vanished between
// write and rename, as if removed by hand) is cleaned up and reported.
// Not parallel: it swaps the package's tempWrite.
func TestCommitFailureIsReported(t *testing.T) {
	s, _ := newStore(t)
	orig := tempWrite
	t.Cleanup(func() { tempWrite = orig })
	tempWrite = func(f *os.File, b []byte) (int, error) {
		n, err := orig(f, b)
		os.Remove(f.Name())
		return n, err
	}
	_, err := s.Put([]byte("vanishing"))
	if err == nil || !strings.Contains(err.Error(), s.Path(Sum([]byte("vanishing")))) {
		t.Fatalf("Put = %v, want rename error naming the object", err)
	}
	if ok, _ := s.Has(Sum([]byte("vanishing"))); ok {
		t.Fatal("object exists")
	}
}
