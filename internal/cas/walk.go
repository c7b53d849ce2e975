package cas

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pcache/pcache/internal/layout"
)

// WalkFuncs are the callbacks of WalkAll. A nil callback skips its kind of
// entry. A callback returning fs.SkipAll ends the walk (WalkAll returns nil);
// fs.SkipDir skips the rest of the current objects/ab subdirectory; any other
// error ends the walk and is returned as is.
type WalkFuncs struct {
	// Object is called for every entry with a valid object name
	// (objects/<2 hex>/<62 hex>, lowercase, or that name with ".zst" for
	// a compressed object: IsCompressedName(info.Name()) tells), in name
	// order, with its Lstat information. Normally a regular file; anything
	// else (a symbolic link, a directory) is a corrupt object, info.Mode()
	// shows what it is, and Verify reports it as ErrCorrupt.
	Object func(id ID, info fs.FileInfo) error
	// Stray is called for every other entry under objects/, with its path
	// relative to the root in slash form ("objects/ab/xyz", "objects/notes",
	// "objects/AB"). A stray directory is reported, not entered.
	Stray func(rel string, info fs.FileInfo) error
}

// WalkAll walks the loose objects in sorted order (packs are ListPacks'),
// calling w.Object for objects and
// w.Stray for everything else there, so fsck can report "stray file
// objects/ab/xyz". Each directory is read in full before any callback for
// its entries runs, so callbacks may delete or quarantine what they are
// given. An unreadable directory ends the walk with an error: a caller
// deciding what to delete must not act on a partial listing.
func (s *Store) WalkAll(w WalkFuncs) error {
	top, err := os.ReadDir(s.objDir)
	if err != nil {
		return fmt.Errorf("cas: walk: %w", err)
	}
	for _, e := range top {
		name := e.Name()
		if e.IsDir() && name == layout.PackDir {
			continue // packs: ListPacks
		}
		if e.IsDir() && isLowerHex(name, 2) {
			err = s.walkSubdir(w, name)
		} else {
			err = stray(w, layout.ObjectsDir+"/"+name, e)
			if err == fs.SkipDir {
				err = nil
			}
		}
		if err == fs.SkipAll {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// walkSubdir walks objects/<prefix>.
func (s *Store) walkSubdir(w WalkFuncs, prefix string) error {
	dir := filepath.Join(s.objDir, prefix)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since the top level was read
		}
		return fmt.Errorf("cas: walk: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !isLowerHex(name, 2*len(ID{})-2) && !IsCompressedName(name) {
			err = stray(w, layout.ObjectsDir+"/"+prefix+"/"+name, e)
		} else if w.Object != nil {
			id, perr := ParseID(prefix + strings.TrimSuffix(name, layout.CompressedExt))
			if perr != nil { // cannot happen: both parts are lowercase hex
				return fmt.Errorf("cas: walk: %w", perr)
			}
			var info fs.FileInfo
			if info, err = e.Info(); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted since the directory was read
				}
				return fmt.Errorf("cas: walk: %w", err)
			}
			err = w.Object(id, info)
		}
		if err == fs.SkipDir {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// stray reports entry e at rel (relative to the root) to w.Stray.
func stray(w WalkFuncs, rel string, e fs.DirEntry) error {
	if w.Stray == nil {
		return nil
	}
	info, err := e.Info()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("cas: walk: %w", err)
	}
	return w.Stray(rel, info)
}

// isLowerHex reports whether s is n lowercase hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
