package outfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/testutil"
)

// storeDirs maps each test store to its cache directory.
var storeDirs sync.Map

func newStore(t testing.TB) *cas.Store {
	t.Helper()
	d := layout.New(filepath.Join(t.TempDir(), "cache"))
	st, err := cas.Open(d, cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	storeDirs.Store(st, d)
	return st
}

// lostFound returns the directory a test store quarantines to.
func lostFound(st *cas.Store) string {
	d, _ := storeDirs.Load(st)
	return d.(layout.Dir).LostFound()
}

// writeOld writes data to path with mode and backdates it an hour, so its
// modification time is trusted when recorded.
func writeOld(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	backdate(t, path)
}

func backdate(t testing.TB, path string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustStat(t testing.TB, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func wantContent(t testing.TB, path string, want []byte) {
	t.Helper()
	if got := mustRead(t, path); !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes %.20q…, want %d bytes %.20q…", path, len(got), got, len(want), want)
	}
}

func mustCapture(t testing.TB, st *cas.Store, arg, path string) record {
	t.Helper()
	rec, err := Capture(st, arg, path)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func mustRestore(t testing.TB, st *cas.Store, rec record, path string) (record, bool) {
	t.Helper()
	out, changed, err := Restore(st, rec, path, trustAll)
	if err != nil {
		t.Fatalf("Restore(%s): %v", path, err)
	}
	return out, changed
}

// corruptObject rewrites object id in place with different bytes of the same
// size.
func corruptObject(t testing.TB, st *cas.Store, id cas.ID) {
	t.Helper()
	p := st.Path(id)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b[:], 0); err != nil {
		t.Fatal(err)
	}
}

// faultStore wraps a real store, letting a test replace single methods.
type faultStore struct {
	*cas.Store
	putReader func(r io.Reader) (cas.ID, int64, error)
	copyTo    func(id cas.ID, dst *os.File) (int64, error)
}

func (s *faultStore) PutReader(r io.Reader) (cas.ID, int64, error) {
	if s.putReader != nil {
		return s.putReader(r)
	}
	return s.Store.PutReader(r)
}

func (s *faultStore) CopyTo(id cas.ID, dst *os.File) (int64, error) {
	if s.copyTo != nil {
		return s.copyTo(id, dst)
	}
	return s.Store.CopyTo(id, dst)
}

// trustAll accepts every recorded path for recovery.
func trustAll(string) bool { return true }

// mkfifo makes a named pipe at path, or skips the test where the file
// system has none.
func mkfifo(t testing.TB, path string) {
	t.Helper()
	if err := testutil.Mkfifo(path); errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no named pipes in the file system on this platform")
	} else if err != nil {
		t.Fatal(err)
	}
}
