package outfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/zeebo/blake3"
)

// bufSize is the size of the buffer every hash and copy streams through.
const bufSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// openRegular opens path for reading only if it names a regular file. Links
// are resolved first; the target is lstat-ed, opened non-blocking and (where
// the platform can) without following a final link, and the open descriptor
// must be that same regular file. So a path naming a fifo, a device or a
// directory, or swapped for one, is refused without blocking.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, nil, err
	}
	lfi, err := os.Lstat(target)
	if err != nil {
		return nil, nil, err
	}
	if !lfi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, lfi.Mode().Type())
	}
	f, err := openNoFollow(target)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() || !os.SameFile(lfi, fi) {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w (replaced while opening)", path, ErrNotRegular)
	}
	return f, fi, nil
}

// writeError marks an error of hashCopy's writer, as opposed to its reader.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// hashCopy streams r through a BLAKE3 hasher and, when w is not nil, into w.
// It returns the hash of the bytes read and their count. An error of w comes
// back as a *writeError.
func hashCopy(r io.Reader, w io.Writer) (cas.ID, int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	h := blake3.New()
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			h.Write(buf[:k])
			if w != nil {
				if _, werr := w.Write(buf[:k]); werr != nil {
					return cas.ID{}, n, &writeError{werr}
				}
			}
			n += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return cas.ID{}, n, err
		}
	}
	var id cas.ID
	h.Sum(id[:0])
	return id, n, nil
}

// unchanged reports whether a file still has the size and modification time
// it had in before.
func unchanged(before, after os.FileInfo) bool {
	return os.SameFile(before, after) && before.Size() == after.Size() && before.ModTime().Equal(after.ModTime())
}

// Racy windows: a modification time younger than this when it is recorded
// might be shared by a later write of the same size, so it is not trusted.
// Sub-second times come from file systems whose clock ticks in milliseconds;
// a whole-second time may come from one that ticks in seconds (two on FAT).
const (
	racyFine   = 50 * time.Millisecond
	racyCoarse = 2 * time.Second
)

// trustedMtime returns the modification time of fi in nanoseconds for a
// PathRecord, or 0 when it is too recent to prove the file unchanged later.
func trustedMtime(fi os.FileInfo) int64 { return trustedMtimeAt(fi.ModTime(), time.Now()) }

// trustedMtimeAt is trustedMtime for modification time m recorded at now.
func trustedMtimeAt(m, now time.Time) int64 {
	window := racyFine
	if m.Nanosecond() == 0 {
		window = racyCoarse
	}
	if now.Sub(m) < window || m.UnixNano() == 0 {
		return 0
	}
	return m.UnixNano()
}
