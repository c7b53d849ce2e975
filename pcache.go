// Package pcache gives any Go function a permanent, disk-backed cache: every
// later call with the same logical arguments returns the stored result, in
// this process, in the next one, and on other machines that share the cache.
//
// # Quick start
//
//	store, err := pcache.Open("") // $PCACHE_DIR, else <user cache dir>/pcache
//	if err != nil { ... }
//	defer store.Close()
//
//	type Args struct{ X, Y int }
//	slowAdd := pcache.MustWrap(store, "example/slowAdd",
//		func(ctx context.Context, a Args) (int, error) {
//			time.Sleep(time.Second)
//			return a.X + a.Y, nil
//		})
//	sum, err := slowAdd.Call(ctx, Args{X: 1, Y: 2}) // computes once, ever
//
// # Keys
//
// When the argument type A is a struct (or a pointer to one), each exported
// field is one named argument and the key is the canonical encoding of the
// map {name → value} (package keying specifies the encoding). Struct tags
// and options choose how each argument is keyed: `pcache:"-"` / [Ignore],
// `pcache:",hash"` / [HashArg], `pcache:",string"` / [StringArg],
// `pcache:",omitzero"` / [DropIfEqual] with the zero value, [MapArg],
// [DropIf], and `pcache:",out"` / [OutFile] for paths the function writes.
// [Version] is part of every key: bump it when the function's meaning
// changes.
//
// # A cache is invisible
//
// A call served from the cache returns exactly what the call that computed
// it returned: a miss returns the decoded copy of what it stored, so code
// tested on a cold cache behaves alike on a warm one. Each entry records a
// fingerprint of the result type's shape; an entry stored under another
// result type is a miss, never a decode into the new type. Wrap refuses
// result types the codec cannot round-trip. A panic in the function reaches
// its caller and releases the key. A result that cannot be stored (full
// disk, read-only cache, closed Store) is still returned; the failure is
// counted in [Stats] and logged (see [WithLogger]), or returned as an error
// under [ReturnStoreErrors].
//
// # On disk
//
// A cache directory holds a marker (pcache.json), immutable objects named
// by the BLAKE3-256 of their bytes, per-function CBOR manifests, in-progress
// writes and lock files; ARCHITECTURE.md and package internal/layout give
// the layout. Writes are atomic; a corrupt or missing object is a miss,
// never wrong data. Two caches rsynced into each other hold the union of
// their entries. The pcache-fsck command checks, repairs, garbage-collects,
// lists, exports and imports caches; [Store.Check] and [Store.GC] do the
// same from Go.
//
// # Concurrency
//
// A Store and every Func are safe for concurrent use by goroutines and by
// processes. Concurrent callers of one missing key compute it once:
// goroutines wait for the first, and so do other processes (a per-key lock
// the OS releases when its holder dies). File locking is unreliable on
// network file systems (NFS, SMB): there pcache stays correct — objects are
// immutable and every write is an atomic rename — but concurrent processes
// may compute the same key twice.
//
// # Environment
//
//   - PCACHE_DIR: the cache directory Open("") and the memoizers use; else
//     pcache under the user cache directory (~/.cache/pcache,
//     ~/Library/Caches/pcache, %LocalAppData%\pcache).
//   - PCACHE_MODE: the mode of every Store that DefaultMode does not set:
//     off, readonly, error-on-miss, refresh or verify (see Mode). An unknown
//     mode is ErrConfig.
//   - PCACHE_REMOTE: a shared remote every Open uses (see Remote):
//     s3://BUCKET/PREFIX (the program must import _
//     "github.com/pcache/pcache/remote/s3"; endpoint and credentials come
//     from the standard AWS variables) or file:///PATH. Empty or "off":
//     none. A setting Open cannot use is logged once at error level, and the
//     local cache works without the remote.
//   - PCACHE_REMOTE_MODE: "ro" reads the remote without publishing to it;
//     "rw" is the default.
//   - PCACHE_REMOTE_FLUSH: how long Close waits for the remote to take what
//     is queued (a Go duration: "30s", "2m"; default 10s), unless
//     RemoteTimeouts says.
package pcache

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/pcache/pcache/internal/board"
	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/lock"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/remote"
)

// Store is an open cache directory. It is safe for concurrent use; open one
// Store per directory per process and share it.
type Store struct {
	d        layout.Dir
	opts     storeOptions
	log      *slog.Logger
	cas      *cas.Store
	board    *board.Board
	gate     *lock.Turnstile // nil when read-only
	keys     *lock.Keys      // nil when read-only
	remote   *remote.Tier    // nil without a remote
	readOnly bool

	mu        sync.Mutex
	manifests map[string]*manifest.Manifest
	closeDone chan struct{}     // closed when the first Close has finished
	names     map[string]string // lower-cased name → name wrapped in this Store
	closed    atomic.Bool       // read on every call without taking mu
	trimDone  chan struct{}     // closed when the automatic trim ends (nil: none started)
	gcGen     atomic.Uint64     // the gc turnstile hold this process last wrote in
	outPaths  outPaths          // out-file paths callers passed: where lost contents may be recovered from

	stats counters
}

// Open opens (creating if needed) a cache directory. dir == "" means the
// default: $PCACHE_DIR if set, else filepath.Join(os.UserCacheDir(), "pcache").
//
// Open keeps a small marker file (pcache.json) at the cache's root and adds
// it to caches written before markers existed. It refuses a directory that
// holds other files but is not a cache (ErrNotCache), and one written by a
// newer pcache. A directory this process cannot write is opened read-only
// (see ReadOnly): hits are served, misses computed and not stored.
//
// Keep the directory on a local file system: file locks are unreliable on
// NFS and SMB, where pcache stays correct but may compute a key more than
// once.
func Open(dir string, opts ...StoreOption) (*Store, error) {
	if dir == "" {
		d, err := layout.DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pcache: open %q: %w", dir, err)
	}
	o := defaultStoreOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := o.resolveMode(); err != nil {
		return nil, err
	}
	s := &Store{d: layout.New(abs), opts: o, log: onceLogger(o.logger), manifests: map[string]*manifest.Manifest{}, names: map[string]string{}}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	s.board = board.Open(s.d.Board(), !s.readOnly)
	s.cas, err = cas.Open(s.d, cas.Options{Durable: o.durable, Now: o.now, ReadOnly: s.readOnly, PackLimit: o.packLimit, Board: s.board})
	if err != nil {
		s.board.Close()
		return nil, fmt.Errorf("pcache: open %s: %w", abs, err)
	}
	if !s.readOnly {
		s.gate = lock.NewTurnstile(s.d)
		s.keys = lock.NewKeys(s.d, o.keyLockFiles)
		if o.lockWait > 0 {
			s.gate.SetWait(o.lockWait)
			s.keys.SetWait(o.lockWait)
		}
		s.cas.MergeInBackground() // packs left by earlier processes, merged while this one works
	}
	if err := s.openRemote(); err != nil {
		if s.opts.remoteSet && !errors.Is(err, errRemoteEnv) {
			s.Close()
			return nil, err // the program's own Remote option: its mistake to see
		}
		// A bad $PCACHE_REMOTE (or _MODE, _FLUSH) costs the remote,
		// never the local cache: said loudly, once per Open.
		s.log.Error("pcache: the remote is off; the local cache works without it", "dir", s.d.Root(), "err", err)
	}
	s.startTrim()
	return s, nil
}

// prepare checks (creating if needed) the cache directory and decides
// whether the Store writes.
func (s *Store) prepare() error {
	root := s.d.Root()
	fi, err := os.Stat(root)
	switch {
	case errors.Is(err, os.ErrNotExist) && !s.opts.readOnly:
		// A new cache is private (0700, as restic makes its repositories):
		// arguments sit in it in plain text. A team cache is a directory
		// made beforehand with the group's access (README: "A team cache"),
		// and keeps the mode it was given.
		if err := os.MkdirAll(filepath.Dir(root), 0o777); err != nil {
			return fmt.Errorf("pcache: open %s: %w", root, err)
		}
		if err := os.Mkdir(root, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("pcache: open %s: %w", root, err)
		}
	case err != nil:
		return fmt.Errorf("pcache: open %s: %w", root, err)
	case !fi.IsDir():
		return fmt.Errorf("pcache: open %s: not a directory", root)
	}
	// layout.CheckMarker is the one judge of "is this a cache", shared with
	// pcache-fsck: a damaged marker in a cache is used (and reported), a
	// directory of only pcache's names becomes a cache, others are refused.
	if _, err := s.d.CheckMarker(); err != nil {
		switch {
		case errors.Is(err, layout.ErrDamagedMarker):
			s.log.Warn("pcache: "+err.Error()+"; pcache-fsck check -repair rewrites it", "dir", root)
		case errors.Is(err, layout.ErrNewerCache), errors.Is(err, os.ErrPermission):
			return fmt.Errorf("pcache: open: %w", err)
		case !s.d.OnlyCacheEntries():
			return fmt.Errorf("%w: %s holds other files and no %s (point Open at an empty or new directory, or at a cache)", ErrNotCache, root, layout.MarkerFile)
		}
	}
	s.readOnly = s.opts.readOnly || !writable(s.d)
	if bad := s.d.CheckOwnDirs(false); len(bad) > 0 && !s.readOnly {
		// A link or a file where the cache keeps a directory: pcache never
		// makes one, so someone planted it to have this process write
		// elsewhere. Serve hits (every object is verified) and write nothing.
		s.readOnly = true
		s.log.Error("pcache: the cache directory holds something pcache never makes where its own directory belongs; using it read-only (pcache-fsck check names it; remove it to store again)",
			"dir", root, "err", errors.Join(bad...))
		return nil
	}
	if s.readOnly {
		s.log.Info("pcache: cache is read-only: hits are served, misses are computed and not stored", "dir", root)
		return nil
	}
	if err := s.d.WriteMarker(); err != nil {
		return fmt.Errorf("pcache: open: %w", err)
	}
	return nil
}

// Dir returns the absolute path of the cache directory.
func (s *Store) Dir() string { return s.d.Root() }

// ReadOnly reports whether the Store serves hits without storing anything.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Close closes the manifests the Store opened and releases its locks. Calls
// made after Close compute without the cache (or fail with ErrClosed under
// ReturnStoreErrors); nothing committed is lost by closing, or by exiting
// without closing. With a remote, Close first publishes what is queued,
// waiting at most the flush timeout (see RemoteTimeouts and
// $PCACHE_REMOTE_FLUSH); if entries are left, its error says how many
// (errors.As finds an *UnpublishedError), and the next Open of this
// cache publishes them.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		done := s.closeDone
		s.mu.Unlock()
		<-done // a Close in progress: returns once it is done
		return nil
	}
	s.closeDone = make(chan struct{})
	defer close(s.closeDone)
	s.mu.Unlock()
	var errs []error
	s.waitTrim()
	if s.remote != nil {
		// First: publishing reads objects from the local store. A flush
		// that could not finish is an error naming what is left (the
		// outbox keeps it for the next Open); the local cache is closed
		// all the same. Without s.mu: the remote's background work that
		// Close waits for may be applying removals to a manifest, which
		// takes s.mu (and finds the Store closed).
		if err := s.remote.Close(); err != nil {
			errs = append(errs, unpublished(err))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.manifests {
		if err := m.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.manifests = nil
	if err := s.cas.Close(); err != nil { // seals this process's pack
		errs = append(errs, err)
	}
	if s.gate != nil {
		s.gate.Close()
	}
	if s.keys != nil {
		s.keys.Close()
	}
	s.board.Close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pcache: close %s: %w", s.d.Root(), err)
	}
	return nil
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
	m, err := manifest.Open(s.d, name, manifest.Options{
		Durable:  s.opts.durable,
		Now:      s.opts.now,
		ReadOnly: s.readOnly,
		Board:    s.board,
		Logf:     func(format string, args ...any) { s.log.Warn(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return nil, fmt.Errorf("pcache: open manifest of %q: %w", name, err)
	}
	s.manifests[name] = m
	return m, nil
}

// claimName registers name with the Store, refusing one that differs from
// another name of this cache only in letter case.
func (s *Store) claimName(name string) error {
	if err := layout.CheckName(name); err != nil {
		return err
	}
	s.mu.Lock()
	other, ok := s.names[lower(name)]
	if !ok {
		s.names[lower(name)] = name
	}
	s.mu.Unlock()
	if ok && other != name {
		return fmt.Errorf("%w %q: %q is wrapped in this Store and differs only in case; on macOS and Windows they would be one directory", ErrBadName, name, other)
	}
	return s.d.CheckCollision(name)
}
