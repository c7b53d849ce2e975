// Package cas is pcache's content-addressed object store: immutable objects named by the BLAKE3-256 of their bytes.
// It writes objects atomically, verifies every byte it hands out, and never trusts a file it did not check.
//
// # On disk
//
// A loose object is one file (layout.Dir.Object) whose bytes hash to its
// name, so b3sum verifies it by hand; mode 0444. One stored compressed
// (PutBatchCompressed; see zstd.go) is <that name>.zst instead: a zstd
// frame whose decompressed bytes hash to the name; every read decodes it
// transparently, after looking for the raw file first. Writes go to a temp file in
// the cache's tmp directory and are renamed into place, so a crash leaves at
// most stray temp files, never a torn object. Quarantine moves a corrupt
// object to lost+found. Object subdirectories are created on first use. The store takes no lock:
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
	"sync/atomic"
	"time"

	"github.com/pcache/pcache/internal/board"
	"github.com/pcache/pcache/internal/layout"
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
	// ReadOnly opens a store this process cannot write: Open creates
	// nothing, reads never refresh mtimes, and Put fails.
	ReadOnly bool
	// PackLimit is the size below which Put appends objects to this
	// process's pack instead of writing a loose file: 0 means
	// DefaultPackLimit, a negative value keeps every object loose.
	PackLimit int
	// Board, if set, is the cache's change board: the writer seals its
	// pack (so maintenance may repack it) on its next append after
	// RequestSeal has moved the SealTopic counter.
	Board *board.Board
}

// Store is an object store rooted at one directory. It is safe for
// concurrent use by goroutines and by processes sharing the directory. It is
// not safe on network file systems whose rename is not atomic.
type Store struct {
	d        layout.Dir
	objDir   string
	tmpDir   string
	lostDir  string
	durable  bool
	readOnly bool
	now      func() time.Time
	synced   [256]atomic.Bool // objects/ fsynced since subdirectory i was seen (Durable only)
	limit    int              // pack objects smaller than this; 0: no packs
	packs    *packSet
	board    *board.Board // nil: seal requests are not seen
	zstState
}

// ErrReadOnly is returned by writes to a store opened ReadOnly.
var ErrReadOnly = errors.New("cas: read-only store")

// Open opens the object store of the cache directory d, creating the
// directory, its objects and its tmp directories if they are missing (unless
// ReadOnly). It fails if one of them exists but is not a directory, or if tmp
// and objects are on different file systems (renames from one to the other
// would not be atomic).
func Open(d layout.Dir, opts Options) (*Store, error) {
	if d.Root() == "" {
		return nil, errors.New("cas: open: empty root directory")
	}
	s := &Store{
		d:        d,
		objDir:   d.Objects(),
		tmpDir:   d.Tmp(),
		lostDir:  d.LostFound(),
		durable:  opts.Durable,
		readOnly: opts.ReadOnly,
		now:      opts.Now,
		board:    opts.Board,
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case opts.PackLimit == 0:
		s.limit = DefaultPackLimit
	case opts.PackLimit > 0:
		s.limit = opts.PackLimit
	}
	s.packs = newPackSet(s)
	if s.readOnly {
		return s, nil
	}
	if _, err := ensureDir(d.Root(), true); err != nil {
		return nil, err
	}
	objFI, err := ensureDir(s.objDir, false)
	if err != nil {
		return nil, err
	}
	tmpFI, err := ensureDir(s.tmpDir, false)
	if err != nil {
		return nil, err
	}
	if err := sameFileSystem(s.tmpDir, s.objDir, tmpFI, objFI); err != nil {
		return nil, fmt.Errorf("cas: open %s: %w", d.Root(), err)
	}
	return s, nil
}

// ensureDir creates dir if it is missing (with parents if all) and checks that
// it is a directory (following a symbolic link, which users may set up),
// returning its Stat.
func ensureDir(dir string, all bool) (fs.FileInfo, error) {
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
			return nil, fmt.Errorf("cas: open: create directory: %w", err)
		}
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("cas: open: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("cas: open: %s is not a directory (mode %v)", dir, fi.Mode())
	}
	return fi, nil
}

// Close seals this process's pack (writing its index) and unmaps every
// pack. The Store must not be used afterwards.
func (s *Store) Close() error {
	return s.packs.close()
}

// hasLooseShards reports whether the objects directory holds any loose-object
// subdirectory: a cache written before packs, whose small objects must be
// found (and not stored twice) as loose files.
func hasLooseShards(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.IsDir() && layout.IsLowerHex(e.Name(), 2) {
			return true
		}
	}
	return false
}

// Path returns the file name of loose object id (layout.Dir.Object's form,
// built without allocating more than the result).
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
