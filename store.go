package pcache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/internal/gclock"
	"github.com/pcache/pcache/manifest"
)

// EnvDir is the environment variable that overrides the default cache directory.
const EnvDir = "PCACHE_DIR"

// DefaultDir returns the cache directory Open uses for dir == "": $PCACHE_DIR
// if set, else filepath.Join(os.UserCacheDir(), "pcache").
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("pcache: no default cache directory (set $%s): %w", EnvDir, err)
	}
	return filepath.Join(base, "pcache"), nil
}

// Store is an open cache directory. It is safe for concurrent use; open one
// Store per directory per process and share it.
type Store struct {
	dir  string
	opts storeOptions
	cas  *cas.Store
	gc   *gclock.Shared // held shared from storing objects to committing their entries

	mu        sync.Mutex
	manifests map[string]*manifest.Manifest
	closed    atomic.Bool // read on every call without taking mu

	stats counters
}

// StoreOption configures Open.
type StoreOption func(*storeOptions)

type storeOptions struct {
	durable bool
	now     func() time.Time
}

// Durable makes every write fsync the object, the manifest record and their
// directories before a Call returns, so committed entries survive power loss,
// not only a crash of the process. It costs a few milliseconds per miss on
// most disks; without it a killed process still never leaves a torn entry.
func Durable() StoreOption { return func(o *storeOptions) { o.durable = true } }

// Open opens (creating if needed) a cache directory. dir == "" means the
// default: $PCACHE_DIR if set, else filepath.Join(os.UserCacheDir(), "pcache").
//
// Open writes a short README into a new cache directory. Keep the directory on
// a local file system: file locks are unreliable on NFS and SMB, where pcache
// stays correct but may compute a key more than once.
func Open(dir string, opts ...StoreOption) (*Store, error) {
	if dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pcache: open %q: %w", dir, err)
	}
	var o storeOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("pcache: open %s: %w", abs, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "locks", "keys"), 0o755); err != nil {
		return nil, fmt.Errorf("pcache: open %s: %w", abs, err)
	}
	objects, err := cas.Open(abs, cas.Options{Durable: o.durable, Now: o.now})
	if err != nil {
		return nil, fmt.Errorf("pcache: open %s: %w", abs, err)
	}
	writeReadme(abs)
	return &Store{
		dir:       abs,
		opts:      o,
		cas:       objects,
		gc:        gclock.NewShared(abs),
		manifests: map[string]*manifest.Manifest{},
	}, nil
}

// Dir returns the absolute path of the cache directory.
func (s *Store) Dir() string { return s.dir }

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("pcache: store is closed")

// Close closes the manifests the Store opened and releases its locks. Calls
// on Funcs of a closed Store fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil
	}
	s.closed.Store(true)
	var errs []error
	for _, m := range s.manifests {
		if err := m.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.manifests = nil
	return errors.Join(errs...)
}

// manifest returns the shared Manifest of one function name, opening it on
// first use. Every Func wrapping the same name in this Store shares it.
func (s *Store) manifest(name string) (*manifest.Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if m, ok := s.manifests[name]; ok {
		return m, nil
	}
	m, err := manifest.Open(s.dir, name, manifest.Options{Durable: s.opts.durable, Now: s.opts.now})
	if err != nil {
		return nil, fmt.Errorf("pcache: open manifest of %q: %w", name, err)
	}
	s.manifests[name] = m
	return m, nil
}

func (s *Store) isClosed() bool { return s.closed.Load() }

const readmeText = `This directory is a pcache cache (a permanent cache of Go function results).

  objects/     immutable results and out-file contents, named by the BLAKE3-256
               of their bytes (b3sum verifies any of them)
  manifests/   per-function CBOR indexes: argument key -> object
  tmp/         in-progress writes; safe to delete when no process runs
  locks/       lock files; do not copy them between machines

Inspect and maintain it with pcache-fsck (check, gc, stats, ls, rm, export,
import). Merge it into another cache (the index first, then the objects):

  rsync -a --exclude /tmp/ --exclude /locks/ --exclude /objects/ SRC/ DST/
  rsync -a --exclude /tmp/ --exclude /locks/ --exclude /manifests/ SRC/ DST/

Entries on both sides are kept. rsync --delete makes a mirror, not a merge.
`

// writeReadme leaves a courtesy README in a cache directory, once. Failure is
// harmless and ignored.
func writeReadme(dir string) {
	p := filepath.Join(dir, "README")
	if _, err := os.Stat(p); err == nil {
		return
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return
	}
	f.WriteString(readmeText)
	f.Close()
}
