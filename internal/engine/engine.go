// Package engine is the untyped call path under pcache's typed API: one
// open cache (Engine) and its functions (Fn) looking up, serving,
// committing and forgetting encoded results, locally and on the remote.
package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pcache/pcache/internal/board"
	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/lock"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/remote"
)

// Engine is an open cache directory: the one state object every call of
// every function of a pcache.Store works through. It is safe for
// concurrent use.
type Engine struct {
	d        layout.Dir
	opts     Options
	log      *slog.Logger
	cas      *cas.Store
	board    *board.Board
	gate     *lock.Turnstile // nil when read-only
	keys     *lock.Keys      // nil when read-only
	remote   *remote.Tier    // nil without a remote
	readOnly bool

	mu        sync.Mutex
	manifests map[string]*manifest.Manifest
	closeDone chan struct{}       // closed when the first Close has finished
	names     map[string]string   // lower-cased name → name wrapped in this Store
	expiries  map[string][]expiry // the Expire of functions wrapped in this Store, by name
	closed    atomic.Bool         // read on every call without taking mu
	trimDone  chan struct{}       // closed when the automatic trim ends (nil: none started)
	merge     sync.Once           // the background merge of packs, started by the first write
	gcGen     atomic.Uint64       // the gc turnstile hold this process last wrote in
	outPaths  outPaths            // out-file paths callers passed: where lost contents may be recovered from

	stats counters
}

// Options configure an Engine: what pcache's StoreOptions and the
// environment decided.
type Options struct {
	PackLimit   int // 0: cas.DefaultPackLimit; negative: every object loose
	Durable     bool
	Now         func() time.Time
	ReadOnly    bool
	Logger      *slog.Logger
	StrictStore bool          // ReturnStoreErrors
	LockWait    time.Duration // 0: the defaults (lock.KeyWait, lock.GCWait)
	MaxSize     int64         // the daily trim's size limit: 0 none
	MaxAge      time.Duration // the daily trim's age limit: 0 none
	Remote      RemoteOptions
	// Unpublished turns the remote tier's *remote.UnpublishedError, which
	// Close may return, into the error the caller's users test for (nil:
	// kept as it is).
	Unpublished func(error) error
}

// Open opens (creating if needed) the cache directory at absolute path
// root: the marker checked or written, the object store and locks opened,
// the remote opened and the daily trim started when they are asked for.
// The packs of earlier processes are merged in the background from the
// first write on (startMerge).
func Open(root string, o Options) (*Engine, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Unpublished == nil {
		o.Unpublished = func(err error) error { return err }
	}
	s := &Engine{d: layout.New(root), opts: o, log: onceLogger(o.Logger), manifests: map[string]*manifest.Manifest{}, names: map[string]string{}}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	var err error
	s.board = board.Open(s.d.Board(), !s.readOnly)
	s.cas, err = cas.Open(s.d, cas.Options{Durable: o.Durable, Now: o.Now, ReadOnly: s.readOnly, PackLimit: o.PackLimit, Board: s.board})
	if err != nil {
		s.board.Close()
		return nil, fmt.Errorf("pcache: open %s: %w", root, err)
	}
	if !s.readOnly {
		s.gate = lock.NewTurnstile(s.d)
		s.keys = lock.NewKeys(s.d, false)
		if o.LockWait > 0 {
			s.gate.SetWait(o.LockWait)
			s.keys.SetWait(o.LockWait)
		}
	}
	if err := s.openRemote(); err != nil {
		if o.Remote.Set && !errors.Is(err, errRemoteEnv) {
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
func (s *Engine) prepare() error {
	root := s.d.Root()
	fi, err := os.Stat(root)
	switch {
	case errors.Is(err, os.ErrNotExist) && !s.opts.ReadOnly:
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
	legacy, merr := s.d.CheckMarker()
	if err := merr; err != nil {
		switch {
		case errors.Is(err, layout.ErrDamagedMarker):
			s.log.Warn("pcache: "+err.Error()+"; pcache-fsck check -repair rewrites it", "dir", root)
		case errors.Is(err, layout.ErrNewerCache), errors.Is(err, os.ErrPermission):
			return fmt.Errorf("pcache: open: %w", err)
		case !s.d.OnlyCacheEntries():
			return fmt.Errorf("%w: %s holds other files and no %s (point Open at an empty or new directory, or at a cache)", layout.ErrNotCache, root, layout.MarkerFile)
		}
	}
	s.readOnly = s.opts.ReadOnly || !writable(s.d)
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
	if merr == nil && !legacy {
		return nil // the marker is there, as CheckMarker just read it
	}
	if err := s.d.WriteMarker(); err != nil {
		return fmt.Errorf("pcache: open: %w", err)
	}
	return nil
}

// startMerge starts, once, the background merge of the packs earlier
// processes left (cas.Store.MergeInBackground), so it runs while this
// process works: at its first write, not at Open. Merging is the upkeep of
// what writers leave, and the next writer does it: a process that only
// hits never competes with it for its first hit, nor waits for it (or for
// its look at the pack directory) in Close.
func (s *Engine) startMerge() {
	s.merge.Do(func() {
		if !s.readOnly {
			s.cas.MergeInBackground()
		}
	})
}

// Dir returns the absolute path of the cache directory.
func (s *Engine) Dir() string { return s.d.Root() }

// ReadOnly reports whether the Store serves hits without storing anything.
func (s *Engine) ReadOnly() bool { return s.readOnly }

// Close waits for the daily trim, publishes what is queued for the remote
// (at most its flush timeout), then closes the manifests and the object
// store and releases the locks. A second Close waits for the first.
func (s *Engine) Close() error {
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
			errs = append(errs, s.opts.Unpublished(err))
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
func (s *Engine) manifest(name string) (*manifest.Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if m, ok := s.manifests[name]; ok {
		return m, nil
	}
	m, err := manifest.Open(s.d, name, manifest.Options{
		Durable:  s.opts.Durable,
		Now:      s.opts.Now,
		ReadOnly: s.readOnly,
		Board:    s.board,
		Logf:     func(format string, args ...any) { s.log.Warn(fmt.Sprintf(format, args...)) },
		// Lookups serve what the view holds; a journal a sync appended
		// to after it was retired is read by the first refresh.
		TrustSummary: true,
	})
	if err != nil {
		return nil, fmt.Errorf("pcache: open manifest of %q: %w", name, err)
	}
	s.manifests[name] = m
	return m, nil
}

// claimName registers name with the Store, refusing one that differs from
// another name of this cache only in letter case.
func (s *Engine) claimName(name string) error {
	if err := layout.CheckName(name); err != nil {
		return err
	}
	s.mu.Lock()
	other, ok := s.names[strings.ToLower(name)]
	if !ok {
		s.names[strings.ToLower(name)] = name
	}
	s.mu.Unlock()
	if ok && other != name {
		return fmt.Errorf("%w %q: %q is wrapped in this Store and differs only in case; on macOS and Windows they would be one directory", layout.ErrBadName, name, other)
	}
	return s.d.CheckCollision(name)
}

// SealPack seals this process's pack, so that a gc run from this process
// can free what it evicts from it (a live pack is kept whole).
func (s *Engine) SealPack() error { return s.cas.Seal() }

// Closed reports whether Close was called.
func (s *Engine) Closed() bool { return s.closed.Load() }

// expiry is the Expire of one function: entries of its result type stored
// longer ago than after are expired.
type expiry struct {
	fp    keying.Fingerprint
	after time.Duration
}

// Expired reports whether entry e of function name has expired under the
// Expire of a function of its name and result type wrapped in this Engine
// (maintain.GCOptions.Expired).
func (s *Engine) Expired(name string, e *record.Entry) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.expiries[name] {
		if e.Type == x.fp && s.opts.Now().UnixNano()-e.Time > int64(x.after) {
			return true
		}
	}
	return false
}

// storable says why nothing can be stored now: the Engine is read-only
// (ErrReadOnly) or closed (ErrClosed); nil when it can.
func (s *Engine) storable() error {
	switch {
	case s.readOnly:
		return ErrReadOnly
	case s.closed.Load():
		return ErrClosed
	}
	return nil
}
