package layout

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pcache/pcache/internal/fsutil"
)

// ErrOutside is returned (wrapped) by the rooted operations for a path that
// does not lie inside the cache directory, or that leads out of it through
// a symbolic link.
var ErrOutside = errors.New("outside the cache directory")

// ErrNotOwnDir is returned (wrapped) by CheckOwnDirs for a directory of the
// cache's own that is a symbolic link or not a directory: pcache never
// makes either, so someone planted it, and maintenance follows nothing
// there.
var ErrNotOwnDir = errors.New("not what pcache makes there")

// rel returns p relative to the root, failing for a path outside it.
func (d Dir) rel(p string) (string, error) {
	r, err := filepath.Rel(d.root, p)
	if err != nil || r == "." || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) || filepath.IsAbs(r) {
		return "", fmt.Errorf("%s: %w", p, ErrOutside)
	}
	return r, nil
}

// rooted runs fn with the cache directory opened as an os.Root: every path
// is resolved beneath it, and a symbolic link (planted anywhere on the way)
// that leads out of it is refused instead of followed.
func (d Dir) rooted(fn func(r *os.Root) error) error {
	r, err := os.OpenRoot(d.root)
	if err != nil {
		return err
	}
	defer r.Close()
	return fn(r)
}

// Remove removes the file (or empty directory) at p, a path inside the
// cache, without following a symbolic link out of the cache on the way:
// maintenance run by any user (root included) deletes nothing elsewhere,
// whatever was planted in the cache. A missing file is not an error.
func (d Dir) Remove(p string) error {
	rp, err := d.rel(p)
	if err != nil {
		return err
	}
	err = d.rooted(func(r *os.Root) error { return r.Remove(rp) })
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

// RemoveAll removes p and everything under it, p being a path inside the
// cache, following no symbolic link out of it.
func (d Dir) RemoveAll(p string) error {
	rp, err := d.rel(p)
	if err != nil {
		return err
	}
	if err := d.rooted(func(r *os.Root) error { return r.RemoveAll(rp) }); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

// Rename moves the file at oldpath to newpath, both inside the cache,
// following no symbolic link out of it: a quarantine or a repack never
// moves a file in from, or out to, a place someone else chose.
func (d Dir) Rename(oldpath, newpath string) error {
	ro, err := d.rel(oldpath)
	if err != nil {
		return err
	}
	rn, err := d.rel(newpath)
	if err != nil {
		return err
	}
	if err := d.rooted(func(r *os.Root) error { return r.Rename(ro, rn) }); err != nil {
		return fmt.Errorf("rename %s to %s: %w", oldpath, newpath, err)
	}
	return nil
}

// ownDirs are the directories directly under the root that pcache makes,
// and those below them whose every entry is pcache's own directory.
var ownDirs = []string{ObjectsDir, ManifestsDir, TmpDir, LostFoundDir, LocksDir, RemoteDir}

// Planted is a link or a special file where the cache keeps one of its own
// directories, or one of its lock files at a fixed name: pcache never makes
// one, so someone put it there. It is an error wrapping ErrNotOwnDir.
type Planted struct {
	Path     string // where it is
	Rel      string // Path relative to the cache directory, slash-separated
	What     string // what it is: "a symbolic link to …", "a named pipe", "a directory"
	LockFile bool   // at a lock file's name (so a directory there is planted too)
}

func (p *Planted) Error() string { return p.Rel + " is " + p.What + ": " + ErrNotOwnDir.Error() }
func (p *Planted) Unwrap() error { return ErrNotOwnDir }

// planted describes the entry fi at p, which is not what pcache makes there.
func (d Dir) planted(p string, fi fs.FileInfo, lockFile bool) *Planted {
	what := "a " + fsutil.Kind(fi.Mode())
	switch {
	case fi.Mode().IsRegular():
		what = "a file" // where a directory belongs
	case fi.Mode()&fs.ModeSymlink != 0:
		to, _ := os.Readlink(p)
		what = "a symbolic link to " + to
	}
	return &Planted{Path: p, Rel: d.Rel(p), What: what, LockFile: lockFile}
}

// lockFiles are the lock files (and the board) at fixed names under locks/.
func (d Dir) lockFiles() []string {
	return []string{d.GCLock(), d.GCIntent(), d.Board(), d.KeyRangeLock(), d.RepackLock(), d.TrimStamp(), d.TrimLock()}
}

// CheckOwnDirs returns, for each of the cache's own directories that exists
// but is not a real directory (a symbolic link, a file, a FIFO), a
// *Planted that names it and what it is. It looks at the
// top-level directories, objects/pack, the 256 object fan-out directories,
// the lock subdirectories and every function's manifest directory. With
// deep unset only the top level is looked at (what a call's Open can
// afford).
func (d Dir) CheckOwnDirs(deep bool) []error {
	var bad []error
	check := func(p string) bool {
		fi, err := os.Lstat(p)
		if err != nil {
			return false // absent (or unreadable: the operation itself says so)
		}
		if !fi.IsDir() { // a link to a directory too: Lstat does not follow it
			bad = append(bad, d.planted(p, fi, false))
			return false
		}
		return true
	}
	ok := map[string]bool{}
	for _, n := range ownDirs {
		ok[n] = check(d.join(n))
	}
	if !deep {
		return bad
	}
	if ok[ObjectsDir] {
		check(d.Packs())
		for i := range 256 {
			check(d.join(ObjectsDir, fmt.Sprintf("%02x", i)))
		}
	}
	if ok[LocksDir] {
		for _, p := range []string{d.KeyLocks(), d.JournalLocks(), d.PackLocks(), d.join(LocksDir, "outbox"), d.join(LocksDir, "manifests"), d.Retired()} {
			check(p)
		}
		// The lock files and the board at fixed names: regular files or
		// nothing (a link there is refused by every open, and would block
		// maintenance for good if it stayed).
		for _, p := range d.lockFiles() {
			if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
				bad = append(bad, d.planted(p, fi, true))
			}
		}
	}
	if ok[ManifestsDir] {
		filepath.WalkDir(d.Manifests(), func(p string, e fs.DirEntry, err error) error {
			if err != nil || p == d.Manifests() {
				return nil
			}
			if e.Type()&fs.ModeSymlink != 0 {
				check(p)
			}
			return nil // WalkDir does not follow links
		})
	}
	if ok[RemoteDir] {
		filepath.WalkDir(d.Remote(), func(p string, e fs.DirEntry, err error) error {
			if err == nil && p != d.Remote() && e.Type()&fs.ModeSymlink != 0 {
				check(p)
			}
			return nil
		})
	}
	return bad
}
