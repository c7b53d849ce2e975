package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/remote"
)

// RemoteOptions say which remote an Engine uses and how (pcache's Remote*
// StoreOptions); the environment ($PCACHE_REMOTE, _MODE, _FLUSH) fills in
// what they leave unset.
type RemoteOptions struct {
	URL       string
	Set       bool           // Remote or RemoteBackend was given: $PCACHE_REMOTE is not read
	Backend   remote.Backend // a program's own storage (nil: by URL)
	ReadOnly  bool           // read without publishing
	Off       bool           // the cache is off (ModeOff): no remote either
	Refresh   time.Duration  // 0: the defaults (see remote.Options)
	Request   time.Duration
	Flush     time.Duration
	MaxObject int64
}

// errRemoteEnv marks a remote setting from the environment that is wrong:
// Open goes on without the remote.
var errRemoteEnv = errors.New("bad remote setting")

// openRemote opens the remote tier the options or environment name.
func (s *Engine) openRemote() error {
	o := &s.opts.Remote
	url := strings.TrimSpace(os.Getenv(remote.EnvRemote))
	if o.Set {
		url = o.URL
	}
	if url == "off" {
		url = ""
	}
	b := o.Backend
	if b == nil && url == "" {
		return nil
	}
	ro := o.ReadOnly
	switch mode := strings.TrimSpace(os.Getenv(remote.EnvRemoteMode)); mode {
	case "", "rw":
	case "ro":
		ro = true
	default:
		return fmt.Errorf("pcache: open: %w: $%s=%q: want ro or rw", errRemoteEnv, remote.EnvRemoteMode, mode)
	}
	if o.Off {
		return nil // PCACHE_MODE=off: the cache is not used, the remote neither
	}
	flush := o.Flush
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
			if !o.Set {
				return fmt.Errorf("pcache: open: %w: $%s: %w", errRemoteEnv, remote.EnvRemote, err)
			}
			return fmt.Errorf("pcache: open: Remote: %w", err)
		}
	}
	t, err := remote.Open(ctx, b, s.d, s.cas, remote.Options{
		ReadOnly: ro, Logger: s.log, Now: s.opts.Now, Apply: s.applyRemote,
		Refresh: o.Refresh, Timeout: o.Request, FlushTimeout: flush,
		MaxObject: o.MaxObject,
	})
	if err != nil {
		return fmt.Errorf("pcache: open: %w", err)
	}
	s.remote = t
	return nil
}

// FromRemote serves k from the remote: the entry found in the remote index
// has its objects fetched into the local cache and is recorded locally,
// then served like any local entry. Anything wrong is a miss. With fresh
// (a caller about to compute, holding the key's lock) the index is read
// again first, one GET when nothing changed, so that a result another
// machine finished moments ago is fetched rather than computed again. A
// call in readonly mode writes nothing, so it never fetches.
func (c *Fn) FromRemote(ctx context.Context, k *CallKey, dst Sink, fresh bool) bool {
	t := c.e.remote
	if t == nil || k.NoWrite {
		return false
	}
	e, ok := t.Lookup(ctx, c.name, k.Hash, fresh)
	if !ok || !c.readsCodec(e.Codec) || e.Type != c.fp || c.m.Shadows(&e) || c.expired(&e) {
		return false // another kind of entry, or one forgotten here and not yet on the remote
	}
	if err := t.Fetch(ctx, &e); err != nil {
		t.Suspect(&e) // when this call's result is published, a damaged remote copy is replaced
		c.e.log.Debug("pcache: remote entry unavailable; computing", "function", c.name, "key", record.Short(&k.Hash), "err", err)
		return false
	}
	if !c.recordFetched(ctx, &e, k.NoWrite) { // the use is recorded, unless the call is read-only
		return false
	}
	if c.serve(ctx, k, &e, dst, false, nil) != served {
		return false
	}
	c.Count(StatRemoteHits)
	return true
}

// ClaimRemote takes the remote lease of k before this machine computes it
// (see remote.Lease), so another machine of the team that is computing it
// already is waited for rather than duplicated: served reports that its
// result arrived meanwhile and was served into dst. The lease returned
// (nil: none) is released by the caller once the result is stored.
func (c *Fn) ClaimRemote(ctx context.Context, k *CallKey, dst Sink) (lease *remote.Lease, served bool) {
	t := c.e.remote
	if t == nil || k.NoWrite || !c.WorthAsking() {
		return nil, false
	}
	for range 3 {
		l, held := t.Claim(ctx, c.name, k.Hash)
		if !held {
			return l, false
		}
		if _, ok := t.Await(ctx, c.name, k.Hash); ok && c.FromRemote(ctx, k, dst, false) {
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
func (s *Engine) applyRemote(name string, recs []record.Entry) {
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
func (c *Fn) recordFetched(ctx context.Context, e *record.Entry, readOnly bool) bool {
	leave, err := c.enterToWrite(ctx)
	if err != nil {
		return false
	}
	defer leave()
	for _, o := range e.Objects() {
		if ok, _ := c.e.cas.Has(o.ID); !ok {
			return false
		}
	}
	if !readOnly {
		e.Used = c.e.opts.Now().UnixNano()
	}
	if err := c.m.Append(*e); err != nil {
		c.Warn("recording a remote hit failed", nil, err)
		return false
	}
	if !readOnly {
		c.e.remote.PublishUse(c.name, *e) // the remote's gc evicts by last use
	}
	return true
}

// Flush waits until every entry stored so far has been published to the
// remote (or ctx ends); without a remote it returns at once.
func (s *Engine) Flush(ctx context.Context) error {
	if s.remote == nil {
		return nil
	}
	if err := s.remote.Flush(ctx); err != nil {
		return Errorf("flush to %s: %w", s.remote, err)
	}
	return nil
}

// publish hands entries just recorded locally to the remote tier.
func (c *Fn) publish(entries []record.Entry) {
	if c.e.remote != nil {
		c.e.remote.Publish(c.name, entries...)
	}
}

// RefreshRemote reads the function's remote index again (one request when
// nothing changed), for a batch about to look many keys up in it.
func (c *Fn) RefreshRemote(ctx context.Context) {
	if c.e.remote != nil {
		c.e.remote.Refresh(ctx, c.name)
	}
}
