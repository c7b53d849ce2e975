package pcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/remote"
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
	return func(o *storeOptions) { o.remoteURL, o.remoteSet = url, true }
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
	return func(o *storeOptions) { o.remoteBackend, o.remoteSet = b, true }
}

// RemoteReadOnly reads the remote without publishing to it, as
// PCACHE_REMOTE_MODE=ro does.
func RemoteReadOnly() StoreOption { return func(o *storeOptions) { o.remoteRO = true } }

// RemoteTimeouts bounds each remote request made on a call's path (index
// reads, object fetches; default 5s, growing with an object's size) and the
// flush Close waits for (default $PCACHE_REMOTE_FLUSH, else 10s). Zero
// keeps the default.
func RemoteTimeouts(request, flush time.Duration) StoreOption {
	return func(o *storeOptions) { o.remoteTimes.request, o.remoteTimes.flush = request, flush }
}

// RemoteMaxObject sets the largest object fetched from the remote (default
// 4 GiB): an entry naming a larger one is computed here instead, and counted
// in Stats.RemoteTooLarge. Whoever can write the bucket can make every
// machine download what its records name, so the bound is a defence; raise
// it for teams that share results larger than 4 GiB (they are uploaded in
// parts, so any size the server takes is published).
func RemoteMaxObject(bytes int64) StoreOption {
	return func(o *storeOptions) { o.remoteMaxObj = bytes }
}

// RemoteRefresh sets how often one function's remote index is read again,
// at most (default 2s): the delay before a process sees what another
// machine published.
func RemoteRefresh(every time.Duration) StoreOption {
	return func(o *storeOptions) { o.remoteTimes.refresh = every }
}

type remoteTimeouts struct {
	refresh, request, flush time.Duration
}

// errRemoteEnv marks a remote setting from the environment that is wrong:
// Open goes on without the remote.
var errRemoteEnv = errors.New("bad remote setting")

// openRemote opens the remote tier the options or environment name.
func (s *Store) openRemote() error {
	o := &s.opts
	url := strings.TrimSpace(os.Getenv(remote.EnvRemote))
	if o.remoteSet {
		url = o.remoteURL
	}
	if url == "off" {
		url = ""
	}
	b := o.remoteBackend
	if b == nil && url == "" {
		return nil
	}
	ro := o.remoteRO
	switch mode := strings.TrimSpace(os.Getenv(remote.EnvRemoteMode)); mode {
	case "", "rw":
	case "ro":
		ro = true
	default:
		return fmt.Errorf("pcache: open: %w: $%s=%q: want ro or rw", errRemoteEnv, remote.EnvRemoteMode, mode)
	}
	switch o.mode {
	case ModeReadOnly:
		ro = true // PCACHE_MODE=readonly: nothing is stored, nothing published
	case ModeOff:
		return nil // PCACHE_MODE=off: the cache is not used, the remote neither
	}
	flush := o.remoteTimes.flush
	if v := strings.TrimSpace(os.Getenv(remote.EnvRemoteFlush)); v != "" && flush == 0 {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("pcache: open: %w: $%s=%q: want a duration such as 30s or 2m", errRemoteEnv, remote.EnvRemoteFlush, v)
		}
		flush = d
	}
	if s.readOnly {
		s.log.Info("pcache: the local cache is read-only, so the remote is not used (its hits are stored locally)", "dir", s.d.Root())
		return nil
	}
	ctx := context.Background()
	if b == nil {
		var err error
		if b, err = remote.OpenBackend(ctx, url); err != nil {
			if !o.remoteSet {
				return fmt.Errorf("pcache: open: %w: $%s: %w", errRemoteEnv, remote.EnvRemote, err)
			}
			return fmt.Errorf("pcache: open: Remote: %w", err)
		}
	}
	t, err := remote.Open(ctx, b, s.d, s.cas, remote.Options{
		ReadOnly: ro, Logger: s.log, Now: s.opts.now, Apply: s.applyRemote,
		Refresh: o.remoteTimes.refresh, Timeout: o.remoteTimes.request, FlushTimeout: flush,
		MaxObject: o.remoteMaxObj,
	})
	if err != nil {
		return fmt.Errorf("pcache: open: %w", err)
	}
	s.remote = t
	return nil
}

// fromRemote serves k from the remote: the entry found in the remote index
// has its objects fetched into the local cache and is recorded locally,
// then served like any local entry. Anything wrong is a miss. With fresh
// (a caller about to compute, holding the key's lock) the index is read
// again first, one GET when nothing changed, so that a result another
// machine finished moments ago is fetched rather than computed again. A
// call in readonly mode writes nothing, so it never fetches.
func (c *core) fromRemote(ctx context.Context, k *callKey, dst sink, fresh bool) bool {
	t := c.s.remote
	if t == nil || k.noWrite {
		return false
	}
	e, ok := t.Lookup(ctx, c.name, k.hash, fresh)
	if !ok || !c.readsCodec(e.Codec) || e.Type != c.fp || c.m.Shadows(&e) || c.expired(&e) {
		return false // another kind of entry, or one forgotten here and not yet on the remote
	}
	if err := t.Fetch(ctx, &e); err != nil {
		t.Suspect(&e) // when this call's result is published, a damaged remote copy is replaced
		c.s.log.Debug("pcache: remote entry unavailable; computing", "function", c.name, "key", record.Short(&k.hash), "err", err)
		return false
	}
	if !c.recordFetched(ctx, &e, k.noWrite) { // the use is recorded, unless the call is read-only
		return false
	}
	if c.serve(ctx, k, &e, dst, false) != served {
		return false
	}
	c.count(statRemoteHits)
	return true
}

// claimRemote takes the remote lease of k before this machine computes it
// (see remote.Lease), so another machine of the team that is computing it
// already is waited for rather than duplicated: served reports that its
// result arrived meanwhile and was served into dst. The lease returned
// (nil: none) is released by the caller once the result is stored.
func (c *core) claimRemote(ctx context.Context, k *callKey, dst sink) (lease *remote.Lease, served bool) {
	t := c.s.remote
	if t == nil || k.noWrite || !c.worthAsking() {
		return nil, false
	}
	for range 3 {
		l, held := t.Claim(ctx, c.name, k.hash)
		if !held {
			return l, false
		}
		if _, ok := t.Await(ctx, c.name, k.hash); ok && c.fromRemote(ctx, k, dst, false) {
			return nil, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
	}
	return nil, false
}

// applyRemote makes removals published by other machines take effect in
// the local cache (remote.Options.Apply): of the records a function's
// remote index gained, a tombstone (of a key, or of every entry of the
// function) that beats what the local manifest holds is appended to it as
// it is, and a newer result for a key held locally (another machine's
// refresh, or a different result of a function that is not deterministic)
// shadows the local entry with a tombstone just older than it, so the next
// call fetches the newer one. The local manifest's removal counter moves,
// so every process on this machine sees it at its next call. Nothing is
// published back.
func (s *Store) applyRemote(name string, recs []record.Entry) {
	if s.readOnly || s.closed.Load() {
		return
	}
	m, err := s.manifest(name)
	if err != nil {
		return
	}
	var apply []record.Entry
	for i := range recs {
		r := &recs[i]
		switch {
		case record.IsForget(r):
			if local, ok := m.Newest(r.KeyHash); !ok || record.Newer(r, &local) {
				apply = append(apply, *r)
			}
		case r.Deleted:
			if local, ok, _ := m.Peek(r.KeyHash); ok && record.Newer(r, &local) {
				apply = append(apply, *r)
			}
		default:
			if local, ok, _ := m.Peek(r.KeyHash); ok && r.Time > local.Time+1 && r.Result != local.Result {
				apply = append(apply, record.Entry{KeyHash: r.KeyHash, Deleted: true, Time: r.Time - 1})
			}
		}
	}
	if len(apply) == 0 {
		return
	}
	if err := m.Append(apply...); err != nil {
		s.log.Warn("pcache: applying removals from the remote failed; they apply at the next refresh", "function", name, "err", err)
	}
}

// recordFetched appends a fetched entry to the local manifest inside the
// gc turnstile, once its objects are known to be there (a gc that ran
// between the fetch and now may have taken them for garbage). The record
// notes the use, which goes to the remote too, unless the call is
// read-only (ModeReadOnly records no use, and publishes nothing).
func (c *core) recordFetched(ctx context.Context, e *record.Entry, readOnly bool) bool {
	leave, err := c.enterToWrite(ctx)
	if err != nil {
		return false
	}
	defer leave()
	for _, o := range e.Objects() {
		if ok, _ := c.s.cas.Has(o.ID); !ok {
			return false
		}
	}
	if !readOnly {
		e.Used = c.s.opts.now().UnixNano()
	}
	if err := c.m.Append(*e); err != nil {
		c.warn("recording a remote hit failed", nil, err)
		return false
	}
	if !readOnly {
		c.s.remote.PublishUse(c.name, *e) // the remote's gc evicts by last use
	}
	return true
}

// Flush waits until every entry stored so far has been published to the
// remote (or ctx ends); without a remote it returns at once. Close
// flushes too, with a deadline. Entries are committed locally when their
// calls return; Flush is about the remote only.
func (s *Store) Flush(ctx context.Context) error {
	if s.remote == nil {
		return nil
	}
	if err := s.remote.Flush(ctx); err != nil {
		return errorf("flush to %s: %w", s.remote, err)
	}
	return nil
}

// publish hands entries just recorded locally to the remote tier.
func (c *core) publish(entries []record.Entry) {
	if c.s.remote != nil {
		c.s.remote.Publish(c.name, entries...)
	}
}
