package cas

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"syscall"
	"time"

	"github.com/pcache/pcache/internal/fsutil"
)

// Get returns the whole content of object id after checking that it hashes
// to id. A caller that knows the object's size (from a manifest record)
// passes it, and an object of any other size is ErrCorrupt without being
// read; size -1 means unknown. An absent object is an error wrapping
// ErrNotFound; a mismatch, or an object path that is not a regular file, is
// a *CorruptError (ErrCorrupt). A successful Get refreshes the object's
// mtime if it is older than TouchQuantum.
func (s *Store) Get(id ID, size int64) ([]byte, error) {
	if size < -1 {
		return nil, fmt.Errorf("cas: get %s: negative size %d", id, size)
	}
	// A packed object is copied out of the mapping; a loose one is read
	// into a buffer of its own, which is returned as it is (a second copy
	// would double the memory a large result needs).
	var out []byte
	copyOut := func(b []byte) error {
		out = append(make([]byte, 0, len(b)), b...)
		return nil
	}
	packedFirst := size < 0 || size < int64(max(s.limit, DefaultPackLimit))
	if packedFirst {
		if ok, err := s.packs.get(id, size, copyOut); ok {
			return out, err
		}
	}
	b, err := s.get(id, size)
	if err == nil {
		return b, nil
	}
	if !packedFirst && errors.Is(err, ErrNotFound) {
		if ok, perr := s.packs.get(id, size, copyOut); ok {
			return out, perr
		}
	}
	return nil, err
}

// View is Get without the copy: it calls fn with the object's bytes,
// verified, and returns what fn returns. fn must not keep the slice (for a
// packed object it is the mapped pack itself), and must not write to it.
// A hit on a packed object costs no system call.
func (s *Store) View(id ID, size int64, fn func([]byte) error) error {
	if size < -1 {
		return fmt.Errorf("cas: get %s: negative size %d", id, size)
	}
	packedFirst := size < 0 || size < int64(max(s.limit, DefaultPackLimit))
	if packedFirst {
		if ok, err := s.packs.get(id, size, fn); ok {
			return err
		}
	}
	b, err := s.get(id, size)
	if err == nil {
		return fn(b)
	}
	if !packedFirst && errors.Is(err, ErrNotFound) {
		if ok, perr := s.packs.get(id, size, fn); ok {
			return perr
		}
	}
	return err
}

// checkSize returns the error for an object of size got when want (if not
// negative) was expected, and for one too large to hold in memory.
func checkSize(id ID, path string, got, want int64) error {
	if want >= 0 && got != want {
		return corrupt(id, path, fmt.Sprintf("size %d, want %d", got, want))
	}
	if uint64(got) > math.MaxInt {
		return fmt.Errorf("cas: get %s: object of %d bytes does not fit in memory on this platform; use Open to stream it", path, got)
	}
	return nil
}

// hollow is the error for an object file of size bytes occupying only
// blocks 512-byte blocks (a sparse file): it is refused before its size is
// allocated, so a planted 1 TiB file of holes costs a miss, not the
// process.
func hollow(id ID, path string, size, blocks int64) error {
	return corrupt(id, path, fmt.Sprintf("a sparse file: %d bytes in %d allocated", size, blocks*512))
}

// finishGet checks what get read: n bytes of the size fstat promised, hashing
// to id. On success it refreshes the mtime.
func (s *Store) finishGet(id ID, path string, b []byte, n int, got ID, mtime time.Time) ([]byte, error) {
	if n != len(b) {
		return nil, corrupt(id, path, fmt.Sprintf("truncated while reading: %d of %d bytes", n, len(b)))
	}
	if got != id {
		return nil, corrupt(id, path, "hash mismatch: content hashes to "+got.String())
	}
	s.touchIfStale(path, mtime)
	return b, nil
}

// GetInto reads object id, verified, into into, which must be exactly as
// long as the object: for a caller that wants the bytes in memory of its
// own (a numeric slice's), without a copy. Errors are Get's.
func (s *Store) GetInto(id ID, into []byte) error {
	if ok, err := s.packs.get(id, int64(len(into)), func(b []byte) error { copy(into, b); return nil }); ok {
		return err
	}
	_, err := s.getInto(id, int64(len(into)), into)
	return err
}

// Verify hashes object id in full (the raw file, else the compressed one,
// decompressed). It returns nil, or an error wrapping ErrNotFound or
// ErrCorrupt. Unlike Get it leaves the mtime alone, so a
// fsck pass does not make every object look recently used.
func (s *Store) Verify(id ID) error {
	if ok, err := s.packs.get(id, -1, func([]byte) error { return nil }); ok {
		return err
	}
	path := s.Path(id)
	f, fi, err := s.openObject(id, path)
	if errors.Is(err, ErrNotFound) {
		if zerr := s.verifyZst(id); !errors.Is(zerr, ErrNotFound) {
			return zerr
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	h := getHasher()
	defer putHasher(h)
	buf := getBuf()
	defer putBuf(buf)
	n, err := io.CopyBuffer(h, onlyReader{f}, *buf)
	if err != nil {
		return fmt.Errorf("cas: verify %s: %w", path, err)
	}
	if n != fi.Size() {
		return corrupt(id, path, fmt.Sprintf("size changed while reading: %d bytes read, %d at open", n, fi.Size()))
	}
	if got := sum(h); got != id {
		return corrupt(id, path, "hash mismatch: content hashes to "+got.String())
	}
	return nil
}

// onlyReader hides an *os.File's WriterTo so io.CopyBuffer uses the buffer it
// is given instead of allocating its own.
type onlyReader struct{ io.Reader }

// Has reports whether object id exists, packed or as a regular file. It does
// not hash: use Verify for that. The pack directory is listed again only
// when neither the packs this process has seen nor a loose file hold it.
func (s *Store) Has(id ID) (bool, error) {
	if _, ok := s.packedSeen(id); ok {
		return true, nil
	}
	fi, err := os.Lstat(s.Path(id))
	if err == nil && fi.Mode().IsRegular() {
		return true, nil
	}
	if s.hasZst(id) {
		return true, nil
	}
	if _, ok := s.packedNew(id); ok {
		return true, nil
	}
	if err != nil && !isAbsent(err) {
		return false, fmt.Errorf("cas: has %s: %w", id, err)
	}
	return false, nil
}

// Known is Has without looking for new packs: what this process has
// seen of them, and the loose file.
func (s *Store) Known(id ID) bool {
	if _, ok := s.packedSeen(id); ok {
		return true
	}
	fi, err := os.Lstat(s.Path(id))
	return err == nil && fi.Mode().IsRegular() || s.hasZst(id)
}

// openObject opens object id for reading and checks that it is a regular
// file, never following a symbolic link.
func (s *Store) openObject(id ID, path string) (*os.File, fs.FileInfo, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return nil, nil, openErr(id, path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("cas: stat %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, corrupt(id, path, modeReason(fi.Mode()))
	}
	if fsutil.Hollow(fi) {
		// Reading (hashing) 1 TiB of holes would take hours.
		f.Close()
		return nil, nil, corrupt(id, path, fmt.Sprintf("a sparse file: %d bytes, few of them allocated", fi.Size()))
	}
	return f, fi, nil
}

// openErr classifies an error from opening object id: absent is ErrNotFound;
// a symbolic link (refused by O_NOFOLLOW) is ErrCorrupt; anything else
// (permissions, I/O) is returned wrapped, naming the path.
func openErr(id ID, path string, err error) error {
	if isAbsent(err) {
		return notFound(err)
	}
	if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
		return corrupt(id, path, modeReason(fi.Mode()))
	}
	return fmt.Errorf("cas: open %s: %w", path, err)
}

// isAbsent reports whether err means the object is not there: the file is
// missing, or a path component (objects/ab) is not a directory.
func isAbsent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// modeReason describes a non-regular file where an object should be.
func modeReason(m fs.FileMode) string { return fsutil.Kind(m) + ", not a regular file" }

// touchIfStale sets path's mtime to now if it is more than TouchQuantum away
// from now (in either direction: an mtime in the future, say from another
// machine's clock, would otherwise protect the object from eviction forever).
// It is best effort: a hit from a read-only or another user's cache must
// still succeed.
func (s *Store) touchIfStale(path string, mtime time.Time) {
	if s.readOnly {
		return
	}
	now := s.now()
	if d := now.Sub(mtime); d < TouchQuantum && d > -TouchQuantum {
		return
	}
	_ = setMtime(path, now)
}

// Size returns the size of object id without reading it (of a compressed
// one, the decompressed size its frame header declares): ErrNotFound if it
// is absent, ErrCorrupt if its name holds something other than a regular
// file.
func (s *Store) Size(id ID) (int64, error) {
	if size, ok := s.packedSeen(id); ok {
		return size, nil
	}
	path := s.Path(id)
	fi, err := os.Lstat(path)
	if err == nil && fi.Mode().IsRegular() {
		return fi.Size(), nil
	}
	if size, ok := s.packedNew(id); ok {
		return size, nil
	}
	if err != nil && isAbsent(err) {
		if size, zerr := s.CompressedSize(id); !errors.Is(zerr, ErrNotFound) {
			return size, zerr
		}
	}
	switch {
	case err != nil && isAbsent(err):
		return 0, notFound(err)
	case err != nil:
		return 0, fmt.Errorf("cas: stat %s: %w", path, err)
	}
	return 0, corrupt(id, path, modeReason(fi.Mode()))
}

// packedSeen returns the size of object id if a pack this process has seen
// holds it.
func (s *Store) packedSeen(id ID) (int64, bool) {
	if l, ok := s.packs.find(id); ok {
		l.p.release()
		return int64(l.size), true
	}
	return 0, false
}

// packedNew looks for object id in packs this process has not seen yet
// (listing the pack directory again, and looking again even if this
// listing changed nothing: another goroutine's may have added the pack
// since the caller looked).
func (s *Store) packedNew(id ID) (int64, bool) {
	s.packs.refresh()
	return s.packedSeen(id)
}

// RefreshPacks forgets packs that are gone and reads new ones: a writer
// calls it when gc may have run since its last write, so that it never
// takes an object of a repacked-away pack for stored.
func (s *Store) RefreshPacks() { s.packs.refresh() }
