package cas

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
)

// Delete removes loose object id: its raw file and its compressed one. An
// absent object is not an error. A read-only object file is made writable
// first where the platform requires it. A directory found at the object's
// path is not deleted (its contents are not the store's to judge) but moved
// to lost+found, as Quarantine does.
func (s *Store) Delete(id ID) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if err := s.deleteFile(id, s.Path(id)); err != nil {
		return err
	}
	return s.deleteFile(id, s.ZstPath(id))
}

// deleteFile is Delete of one of the two files of object id.
func (s *Store) deleteFile(id ID, path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		if isAbsent(err) {
			return nil
		}
		return fmt.Errorf("cas: delete %s: %w", path, err)
	}
	if fi.IsDir() {
		_, err := s.quarantine(id, path)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	err = s.d.Remove(path) // rooted: a planted objects/ab/ link leads nowhere
	if err != nil && !isAbsent(err) && fi.Mode().IsRegular() && runtime.GOOS == "windows" {
		// Windows refuses to delete a read-only file.
		makeReplaceable(path, fi)
		err = s.d.Remove(path)
	}
	if err != nil && !isAbsent(err) {
		return fmt.Errorf("cas: delete: %w", err)
	}
	return nil
}

// Quarantine moves object id, whatever kind of file it is, to
// <root>/lost+found/<hex>.<host>.<pid>.<rand> and returns the new path. Use it
// instead of Delete for an object found corrupt, so no data is ever silently
// destroyed; a later Put of the same content re-creates a good object. An
// absent object is an error wrapping ErrNotFound.
func (s *Store) Quarantine(id ID) (string, error) {
	if s.readOnly {
		return "", ErrReadOnly
	}
	// The file a read found corrupt: the raw one if it is there (readers
	// try it first), else the compressed one.
	path := s.Path(id)
	if _, err := os.Lstat(path); isAbsent(err) {
		if _, zerr := os.Lstat(s.ZstPath(id)); zerr == nil {
			path = s.ZstPath(id)
		}
	}
	return s.quarantine(id, path)
}

// QuarantineCompressed is Quarantine of the compressed file of object id,
// whatever its raw file is (maintenance found that one form corrupt).
func (s *Store) QuarantineCompressed(id ID) (string, error) {
	if s.readOnly {
		return "", ErrReadOnly
	}
	return s.quarantine(id, s.ZstPath(id))
}

// quarantine moves path, a file of object id, to lost+found.
func (s *Store) quarantine(id ID, path string) (string, error) {
	if err := os.Mkdir(s.lostDir, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("cas: quarantine %s: %w", path, err)
	}
	dst := filepath.Join(s.lostDir, id.String()+"."+fsutil.Unique())
	if strings.HasSuffix(path, layout.CompressedExt) {
		dst += layout.CompressedExt
	}
	// Rooted: with lost+found/ (or objects/ab/) planted as a link to
	// someone's directory, nothing is moved into or out of it.
	if err := s.d.Rename(path, dst); err != nil {
		if isAbsent(err) {
			if _, lerr := os.Lstat(path); isAbsent(lerr) {
				return "", notFound(err)
			}
		}
		return "", fmt.Errorf("cas: quarantine: %w", err)
	}
	if s.durable {
		if err := fsutil.SyncDir(s.lostDir); err != nil {
			return dst, fmt.Errorf("cas: quarantine %s: %w", path, err)
		}
		if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
			return dst, fmt.Errorf("cas: quarantine %s: %w", path, err)
		}
	}
	return dst, nil
}
