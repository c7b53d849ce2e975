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
// changes. A type says itself how it is keyed with a method CacheKey()
// (any, error) ([keying.KeyHasher], permacache's __permacache_hash__): its
// key is the canonical encoding of what CacheKey returns (a string, a
// struct of the fields that matter, a digest the type keeps up to date),
// ahead of every other rule for the type; it must be deterministic, and
// its error fails the call naming the argument.
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
	"fmt"
	"path/filepath"

	"github.com/pcache/pcache/internal/engine"
	"github.com/pcache/pcache/internal/layout"
)

// Store is an open cache directory. It is safe for concurrent use; open one
// Store per directory per process and share it.
type Store struct {
	e    *engine.Engine
	mode Mode // of calls whose context names none (DefaultMode, $PCACHE_MODE)
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
	// readonly: nothing is stored, nothing published; off: the cache is
	// not used, the remote neither.
	o.eng.Remote.ReadOnly = o.eng.Remote.ReadOnly || o.mode == ModeReadOnly
	o.eng.Remote.Off = o.mode == ModeOff
	e, err := engine.Open(abs, o.eng)
	if err != nil {
		return nil, err
	}
	return &Store{e: e, mode: o.mode}, nil
}

// Dir returns the absolute path of the cache directory.
func (s *Store) Dir() string { return s.e.Dir() }

// ReadOnly reports whether the Store serves hits without storing anything.
func (s *Store) ReadOnly() bool { return s.e.ReadOnly() }

// Close closes the manifests the Store opened and releases its locks. Calls
// made after Close compute without the cache (or fail with ErrClosed under
// ReturnStoreErrors); nothing committed is lost by closing, or by exiting
// without closing. With a remote, Close first publishes what is queued,
// waiting at most the flush timeout (see RemoteTimeouts and
// $PCACHE_REMOTE_FLUSH); if entries are left, its error says how many
// (errors.As finds an *UnpublishedError), and the next Open of this
// cache publishes them.
//
// A Store that wrote 64 entries or more to a function leaves its index
// compact for the processes that come after it: the journal it closes
// becomes a sorted segment, and when it wrote at least half of the
// function's records (a fill of up to about 260,000 entries), all of the
// function's segments become one. That adds to Close a small fraction of
// the writing (on a 2-core VM, about 8 ms after 10,000 entries that took
// 200 ms, 50-250 ms after 100,000 that took 2 s) and saves every later
// process opening the others.
func (s *Store) Close() error { return s.e.Close() }
