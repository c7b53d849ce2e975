// Package pcache gives any Go function a permanent, disk-backed cache: every
// later call with the same logical arguments returns the stored result, in this
// process, in the next one, and on another machine the cache was rsynced to.
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
// When the argument type A is a struct, each exported field is one named
// argument and the key is the canonical encoding of the map {name → value}
// (package keying documents the encoding precisely). Struct tags and options
// choose how each argument is keyed: `pcache:"-"` / [Ignore],
// `pcache:",hash"` / [HashArg], `pcache:",string"` / [StringArg],
// `pcache:",omitzero"` / [DropIfEqual] with the zero value, [MapArg],
// [DropIf], and `pcache:",out"` / [OutFile] for paths the function writes.
// [Version] is part of every key: bump it when the function's meaning changes.
//
// # On disk
//
// A cache directory holds immutable objects named by the BLAKE3-256 of their
// bytes (objects/ab/cdef…), per-function CBOR manifests (manifests/<name>/),
// in-progress writes (tmp/) and lock files (locks/). Writes are atomic; a
// corrupt or missing object is a miss, never wrong data. Two caches rsynced
// into each other hold the union of their entries. The pcache-fsck command
// checks, repairs, garbage-collects, lists, exports and imports caches.
//
// # Concurrency
//
// A Store and every Func are safe for concurrent use by goroutines and by
// processes. Concurrent callers of one missing key compute it once: goroutines
// wait for the first, and so do other processes (a per-key file lock: an open-file-description
// byte-range lock on Linux, a flock file elsewhere). File
// locking is unreliable on network file systems (NFS, SMB): there pcache stays
// correct — objects are immutable and every write is an atomic rename — but
// concurrent processes may compute the same key twice.
package pcache
