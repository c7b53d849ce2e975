// Package cas is pcache's content-addressed object store: immutable files named by the BLAKE3-256 of their bytes.
// It writes objects atomically (temp file, rename), verifies every byte it hands out, and never trusts a file it did not check.
//
// # On-disk layout
//
//	<root>/objects/ab/cdef…   one object: the file's bytes hash (BLAKE3-256) to "abcdef…",
//	                          so `b3sum objects/ab/cdef…` verifies it by hand; mode 0444
//	<root>/tmp/               in-progress writes, named <host>.<pid>.<rand>.tmp; a crash leaves
//	                          at most such files, never a torn object
//	<root>/lost+found/        objects moved aside by Quarantine, named <hex>.<host>.<pid>.<rand>
//
// Object subdirectories are created on first use. The store takes no lock:
// content addressing makes concurrent writers of one object idempotent (each
// renames an identical file into place), so goroutines and processes may share
// a store freely. The mtime of an object is its last use; reads and duplicate
// writes refresh it at most once per TouchQuantum so that hits cost no writes.
//
// # Trust
//
// Nothing read from disk is believed without checking. Get, GetSize, Open and
// CopyTo hash every byte and fail with an error wrapping ErrCorrupt on a
// mismatch; an object path that is a symbolic link, a directory or any other
// non-regular file is ErrCorrupt and is never read through (caches may be
// rsynced from elsewhere). Put trusts an existing object of the right size
// without rehashing it, so a caller that finds it corrupt later calls
// Quarantine and then Put again, which re-creates it.
package cas

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// ErrNotFound is wrapped by every error that reports an absent object.
var ErrNotFound = errors.New("cas: object not found")

// ErrCorrupt is wrapped by every error that reports an object whose file does
// not hold what its name promises: its bytes do not hash to the name, its size
// differs from what the caller expected, or it is not a regular file.
var ErrCorrupt = errors.New("cas: object corrupt")

// CorruptError is the concrete error behind ErrCorrupt. errors.Is(err,
// ErrCorrupt) matches it; errors.As gives fsck the object and the reason.
type CorruptError struct {
	ID     ID     // the object's name
	Path   string // the file that was checked
	Reason string // "hash mismatch", "size 3, want 5", "symbolic link", …
}

// Error returns "cas: object corrupt: <path>: <reason>".
func (e *CorruptError) Error() string { return "cas: object corrupt: " + e.Path + ": " + e.Reason }

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// TouchQuantum is how stale an object's mtime must be before a use refreshes
// it. The mtime records last use for gc -older-than and LRU eviction; bumping
// it at most once per hour (as Go's build cache does) makes hits free of
// writes. An eviction cutoff must therefore allow for TouchQuantum of slack.
const TouchQuantum = time.Hour

// Options configures a Store.
type Options struct {
	// Durable makes Put fsync each new object file and its directory before
	// returning, so the object survives power loss once Put has returned.
	Durable bool
	// Now is the clock used for mtime refreshes (tests inject one); nil means
	// time.Now.
	Now func() time.Time
}

// Store is an object store rooted at one directory. It is safe for
// concurrent use by goroutines and by processes sharing the directory. It is
// not safe on network file systems whose rename is not atomic.
type Store struct {
	root    string // absolute
	objDir  string // root/objects
	tmpDir  string // root/tmp
	lostDir string // root/lost+found
	durable bool
	now     func() time.Time
	synced  [256]atomic.Bool // objects/ fsynced since subdirectory i was seen (Durable only)
}

// Directory names inside the root.
const (
	objectsName   = "objects"
	tmpName       = "tmp"
	lostFoundName = "lost+found"
)

// Open opens the store rooted at root, creating root, root/objects and
// root/tmp if they are missing. It fails if root (or either subdirectory)
// exists but is not a directory, or if tmp and objects are on different file
// systems (renames from one to the other would not be atomic).
func Open(root string, opts Options) (*Store, error) {
	if root == "" {
		return nil, errors.New("cas: open: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("cas: open %s: %w", root, err)
	}
	if err := ensureDir(abs, true); err != nil {
		return nil, err
	}
	s := &Store{
		root:    abs,
		objDir:  filepath.Join(abs, objectsName),
		tmpDir:  filepath.Join(abs, tmpName),
		lostDir: filepath.Join(abs, lostFoundName),
		durable: opts.Durable,
		now:     opts.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, d := range []string{s.objDir, s.tmpDir} {
		if err := ensureDir(d, false); err != nil {
			return nil, err
		}
	}
	if err := sameFileSystem(s.tmpDir, s.objDir); err != nil {
		return nil, fmt.Errorf("cas: open %s: %w", abs, err)
	}
	return s, nil
}

// ensureDir creates dir if it is missing (with parents if all) and checks that
// it is a directory (following a symbolic link, which users may set up).
func ensureDir(dir string, all bool) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if all {
			err = os.MkdirAll(dir, 0o777)
		} else {
			err = os.Mkdir(dir, 0o777)
			if errors.Is(err, fs.ErrExist) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("cas: open: create directory: %w", err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("cas: open: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("cas: open: %s is not a directory (mode %v)", dir, fi.Mode())
	}
	return nil
}

// Root returns the store's root directory as an absolute path.
func (s *Store) Root() string { return s.root }

// TempDir returns the directory holding in-progress writes (<root>/tmp).
// Files there older than any running write may be deleted.
func (s *Store) TempDir() string { return s.tmpDir }

// LostFoundDir returns the directory Quarantine moves objects to
// (<root>/lost+found). It exists only after the first Quarantine.
func (s *Store) LostFoundDir() string { return s.lostDir }

// Path returns the file name of object id: <root>/objects/ab/cdef….
func (s *Store) Path(id ID) string {
	var h [2 * len(id)]byte
	hex.Encode(h[:], id[:])
	// The first byte (two hex digits) names the subdirectory.
	return s.objDir + string(os.PathSeparator) + string(h[:2]) + string(os.PathSeparator) + string(h[2:])
}

// corrupt returns a *CorruptError for id at path.
func corrupt(id ID, path, reason string) error {
	return &CorruptError{ID: id, Path: path, Reason: reason}
}

// notFound wraps both ErrNotFound and the underlying error (so errors.Is
// with fs.ErrNotExist also works), naming the path through it.
func notFound(err error) error { return fmt.Errorf("%w: %w", ErrNotFound, err) }
