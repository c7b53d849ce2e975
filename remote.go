package pcache

import (
	"context"
	"io"
	"time"
)

// Remote makes the Store share its entries through the remote at url, as
// $PCACHE_REMOTE does (the option wins over the variable; Remote("") turns
// the remote off). The local cache stays the first level: local hits never
// wait for the network (a process that hits keeps the remote index of each
// function it calls current in the background, so removals made on other
// machines reach it). A local miss looks the key up in the remote's index
// and, on a remote hit, streams its objects (out files included) into the
// local cache, verified by hash. New entries are published in the
// background, objects first; Close flushes what is queued, waiting at most
// the flush timeout (10s, $PCACHE_REMOTE_FLUSH, RemoteTimeouts), and
// returns an error naming how many entries it left (the next Open
// publishes them). A Store with a remote needs its Close (Memo and its
// relatives: pcache.Close) for the entries of its last moments to reach
// the remote. A Store whose mode is ModeReadOnly (PCACHE_MODE=readonly)
// neither fetches from the remote (that would write the local cache) nor
// publishes; one whose mode is ModeOff does not open it. A remote that is
// down, slow or damaged never fails or delays a call beyond its request
// timeouts: calls go on locally and Stats counts the failures.
//
// An s3://BUCKET[/PREFIX] remote needs the S3 backend, a package of its
// own that the program imports for its effect, as a database/sql driver:
//
//	import _ "github.com/pcache/pcache/remote/s3"
//
// Without it, Open fails with an error wrapping ErrRemoteNotLinked that
// names that line. A url that is not s3://BUCKET[/PREFIX] or file:///PATH
// makes Open fail.
func Remote(url string) StoreOption {
	return func(o *storeOptions) { o.eng.Remote.URL, o.eng.Remote.Set = url, true }
}

// RemoteStorage is where a remote keeps its files, for programs that bring
// their own (a custom transport, another store, a test's): a flat store of
// byte blobs under keys (slash-separated paths relative to its prefix).
// Implementations are safe for concurrent use, and their errors wrap
// ErrRemoteNotExist, ErrRemoteExists, ErrRemoteNoBucket, ErrRemoteDenied
// and ErrRemoteTooLarge where those apply.
type RemoteStorage interface {
	// Get opens the blob at key; ErrRemoteNotExist if absent. A body whose
	// length is known before it is read (a file's size, a Content-Length)
	// has a method Size() int64 returning it (-1: not known), which lets
	// the tier refuse an oversized blob before reading it.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Put stores size bytes from r at key. With createOnly it fails with
	// ErrRemoteExists when key is there, and never replaces it.
	Put(ctx context.Context, key string, r io.Reader, size int64, createOnly bool) error
	// Head returns the size and last modification of the blob at key;
	// ErrRemoteNotExist if absent.
	Head(ctx context.Context, key string) (size int64, modified time.Time, err error)
	// List calls fn for every key under prefix, in lexicographic order.
	List(ctx context.Context, prefix string, fn func(key string, size int64, modified time.Time) error) error
	// Delete removes the blob at key; an absent one is not an error.
	Delete(ctx context.Context, key string) error
	// String names the storage for messages (its URL, without secrets).
	String() string
}

// RemoteBackend is Remote with storage the caller brings.
func RemoteBackend(b RemoteStorage) StoreOption {
	return func(o *storeOptions) { o.eng.Remote.Backend, o.eng.Remote.Set = b, true }
}

// RemoteReadOnly reads the remote without publishing to it, as
// PCACHE_REMOTE_MODE=ro does.
func RemoteReadOnly() StoreOption { return func(o *storeOptions) { o.eng.Remote.ReadOnly = true } }

// RemoteTimeouts bounds each remote request made on a call's path (index
// reads, object fetches; default 5s, growing with an object's size) and the
// flush Close waits for (default $PCACHE_REMOTE_FLUSH, else 10s). Zero
// keeps the default.
func RemoteTimeouts(request, flush time.Duration) StoreOption {
	return func(o *storeOptions) { o.eng.Remote.Request, o.eng.Remote.Flush = request, flush }
}

// RemoteMaxObject sets the largest object fetched from the remote (default
// 4 GiB): an entry naming a larger one is computed here instead, and counted
// in Stats.RemoteTooLarge. Whoever can write the bucket can make every
// machine download what its records name, so the bound is a defence; raise
// it for teams that share results larger than 4 GiB (they are uploaded in
// parts, so any size the server takes is published).
func RemoteMaxObject(bytes int64) StoreOption {
	return func(o *storeOptions) { o.eng.Remote.MaxObject = bytes }
}

// RemoteRefresh sets how often one function's remote index is read again,
// at most (default 2s): the delay before a process sees what another
// machine published.
func RemoteRefresh(every time.Duration) StoreOption {
	return func(o *storeOptions) { o.eng.Remote.Refresh = every }
}

// Flush waits until every entry stored so far has been published to the
// remote (or ctx ends); without a remote it returns at once. Close
// flushes too, with a deadline. Entries are committed locally when their
// calls return; Flush is about the remote only.
func (s *Store) Flush(ctx context.Context) error { return s.e.Flush(ctx) }
