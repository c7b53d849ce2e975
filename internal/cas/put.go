package cas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/pcache/pcache/internal/fsutil"
)

// Seams for fault-injection tests.
var (
	createTemp = fsutil.CreateTemp
	tempWrite  = (*os.File).Write
)

// objectPerm is the mode of every object file: objects are immutable.
const objectPerm fs.FileMode = 0o444

// packWritePerm is the mode of this process's pack while it grows: its
// owner writes it through the descriptor that created it; sealing makes it
// objectPerm.
const packWritePerm fs.FileMode = 0o644

// Put stores b and returns its ID. An object below the pack limit goes into
// this process's pack with one append (unless a pack this process has seen,
// or a loose file, holds it already: a packed copy is re-hashed before it is
// trusted). A larger one is a loose file: if it already exists as a regular
// file of the right size, Put only refreshes its mtime (see TouchQuantum);
// otherwise it writes a temp file (fsynced if Options.Durable) and renames it
// into place, replacing whatever wrong-sized file was there; a directory in
// the way is moved to lost+found first. Many goroutines and processes may put
// the same object at once. On failure (for example ENOSPC, which the returned
// error wraps) no partial object is left behind.
func (s *Store) Put(b []byte) (ID, error) {
	if s.readOnly {
		return ID{}, ErrReadOnly
	}
	if len(b) < s.limit {
		ids, err := s.packs.put([][]byte{b})
		if err != nil {
			return ID{}, err
		}
		return ids[0], nil
	}
	return s.putLoose(b)
}

// PutBatch stores every object of bs and returns their IDs: the small ones
// (below the pack limit) with one append to this process's pack, the others
// as loose files. On failure nothing it returns an ID for was lost, but some
// objects may be stored.
func (s *Store) PutBatch(bs [][]byte) ([]ID, error) { return s.putBatch(bs, NoCompression) }

// putBatch is PutBatch storing loose objects compressed at level c (when
// that pays).
func (s *Store) putBatch(bs [][]byte, c Compression) ([]ID, error) {
	if s.readOnly {
		return nil, ErrReadOnly
	}
	ids := make([]ID, len(bs))
	var small [][]byte
	var at []int
	for i, b := range bs {
		if len(b) < s.limit {
			small, at = append(small, b), append(at, i)
			continue
		}
		id, err := s.putLooseCompressed(b, c)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	if len(small) > 0 {
		got, err := s.packs.put(small)
		if err != nil {
			return nil, err
		}
		for j, i := range at {
			ids[i] = got[j]
		}
	}
	return ids, nil
}

// putLoose stores b as a loose file (raw), unless it is stored already,
// raw or compressed.
func (s *Store) putLoose(b []byte) (ID, error) {
	id := Sum(b)
	path := s.Path(id)
	if s.present(id, path, int64(len(b))) || s.presentZst(id) {
		return id, nil
	}
	f, err := s.createTemp(path)
	if err != nil {
		return ID{}, err
	}
	if _, err := tempWrite(f, b); err != nil {
		return ID{}, abort(f, path, err)
	}
	if err := s.commit(id, f, path, int64(len(b))); err != nil {
		return ID{}, err
	}
	return id, nil
}

// PutReader stores everything read from r until io.EOF and returns its ID
// and size. A stream shorter than the pack limit is stored as Put stores it;
// a longer one is hashed while it is copied to a temp file through a bounded
// buffer, so memory use does not depend on the stream's length, and the
// temp file is renamed to the name it hashed to, or dropped if that object
// already exists (refreshing the object's mtime instead).
func (s *Store) PutReader(r io.Reader) (ID, int64, error) {
	if s.readOnly {
		return ID{}, 0, ErrReadOnly
	}
	if s.limit > 0 {
		head := make([]byte, s.limit)
		n, err := io.ReadFull(r, head)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			id, err := s.Put(head[:n])
			return id, int64(n), err
		case err != nil:
			return ID{}, 0, fmt.Errorf("cas: put stream: read: %w", err)
		}
		r = io.MultiReader(bytes.NewReader(head), r)
	}
	return s.putStream(r, "stream", nil)
}

// PutExpect stores object want of size bytes read from r (a download),
// only if what r yields is exactly that: a shorter, longer or different
// stream stores nothing and fails with an error wrapping ErrCorrupt. An
// object this process knows to be present (in a pack it has seen, or
// loose) is not read again; it does not list the pack directory to find
// out (a download is cheaper to repeat than a listing per object).
func (s *Store) PutExpect(r io.Reader, want ID, size int64) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if s.Known(want) {
		return nil
	}
	lr := io.LimitReader(r, size+1)
	if size < int64(s.limit) {
		b, err := io.ReadAll(lr)
		if err != nil {
			return fmt.Errorf("cas: put %x: read: %w", want[:8], err)
		}
		if int64(len(b)) != size || Sum(b) != want {
			return fmt.Errorf("cas: put %x: %w: got %d bytes hashing to %.16s, want %d", want[:8], ErrCorrupt, len(b), Sum(b).String(), size)
		}
		_, err = s.Put(b)
		return err
	}
	exp := expect{id: want, size: size}
	_, _, err := s.putStream(lr, fmt.Sprintf("%x", want[:8]), &exp)
	return err
}

// expect is what a verified stream must be.
type expect struct {
	id   ID
	size int64
}

// putStream is PutReader; what names the source in errors. With want, a
// stream that is not that object is dropped before it is committed.
func (s *Store) putStream(r io.Reader, what string, want *expect) (ID, int64, error) {
	if s.readOnly {
		return ID{}, 0, ErrReadOnly
	}
	f, err := s.createTemp(what)
	if err != nil {
		return ID{}, 0, err
	}
	h := getHasher()
	defer putHasher(h)
	bp := getBuf()
	defer putBuf(bp)
	buf := *bp
	var n int64
	for {
		m, rerr := r.Read(buf)
		if m > 0 {
			h.Write(buf[:m])
			if _, err := tempWrite(f, buf[:m]); err != nil {
				return ID{}, n, abort(f, what, err)
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return ID{}, n, abort(f, what, fmt.Errorf("read: %w", rerr))
		}
	}
	id := sum(h)
	if want != nil && (id != want.id || n != want.size) {
		return ID{}, n, abort(f, what, fmt.Errorf("%w: got %d bytes hashing to %.16s, want %d", ErrCorrupt, n, id.String(), want.size))
	}
	path := s.Path(id)
	if err := s.place(id, f, path, n, s.present(id, path, n) || s.presentZst(id)); err != nil {
		return ID{}, n, err
	}
	return id, n, nil
}

// place finishes the temp file f of object id: dropped when the object is
// there already (have), else renamed to path, n bytes (see commit).
func (s *Store) place(id ID, f *os.File, path string, n int64, have bool) error {
	if have {
		f.Close()
		os.Remove(f.Name())
		return nil
	}
	return s.commit(id, f, path, n)
}

// present reports whether object id exists at path as a regular file of the
// given size, refreshing its mtime if so. It also clears the way for a write:
// a directory at path is quarantined (a rename cannot replace it), and on
// Windows, which cannot rename over a read-only file, a wrong-sized file is
// made writable. Nowhere is a file with other hard links chmodded: it may be
// someone's private file linked into a shared cache, and the rename replaces
// the cache's name for it without touching it.
func (s *Store) present(id ID, path string, size int64) bool {
	fi, err := os.Lstat(path)
	switch {
	case err != nil:
		return false
	case fi.Mode().IsRegular() && fi.Size() == size:
		s.touchIfStale(path, fi.ModTime())
		return true
	case fi.IsDir():
		_, _ = s.Quarantine(id) // if this fails, the rename reports why
	case fi.Mode().IsRegular():
		makeReplaceable(path, fi)
	}
	return false
}

// makeReplaceable makes the regular file fi at path writable where a
// read-only file cannot be renamed over or removed (Windows), unless it has
// other hard links. Elsewhere it does nothing: the directory's permissions
// decide.
func makeReplaceable(path string, fi fs.FileInfo) {
	if runtime.GOOS == "windows" && !fsutil.Linked(fi) {
		_ = os.Chmod(path, 0o644)
	}
}

// createTemp creates a temp file in <root>/tmp for an object; what names the
// object or source in errors.
func (s *Store) createTemp(what string) (*os.File, error) {
	f, err := createTemp(s.tmpDir, "", objectPerm)
	if err != nil {
		return nil, fmt.Errorf("cas: put %s: create temp file in %s: %w", what, s.tmpDir, err)
	}
	return f, nil
}

// abort closes and removes a temp file after a failed write.
func abort(f *os.File, what string, err error) error {
	f.Close()
	os.Remove(f.Name())
	return fmt.Errorf("cas: put %s: %w", what, err)
}

// commit renames the finished temp file f to path (object id of size bytes),
// creating the subdirectory if needed. With Durable, the file and the
// directories gaining entries are fsynced. If the rename fails but a good
// object of the right size is now in place (another writer won a race on a
// platform that cannot rename over it), the put has succeeded.
func (s *Store) commit(id ID, f *os.File, path string, size int64) error {
	dir := filepath.Dir(path)
	if err := os.Mkdir(dir, 0o777); err == nil || errors.Is(err, fs.ErrExist) {
		if s.durable && (err == nil || !s.synced[id[0]].Load()) {
			// A new subdirectory is durable only once objects/ is synced; do it
			// once per subdirectory per Store in case another process made it.
			if err := fsutil.SyncDir(s.objDir); err != nil {
				f.Close()
				os.Remove(f.Name())
				return fmt.Errorf("cas: put %s: %w", path, err)
			}
			s.synced[id[0]].Store(true)
		}
	} // else the rename below fails and says why
	err := fsutil.Commit(f, path, s.durable) // removes the temp file on error
	if err == nil {
		return nil
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode().IsRegular() && fi.Size() == size {
			return nil
		}
	}
	return fmt.Errorf("cas: put %s: %w", path, err)
}
