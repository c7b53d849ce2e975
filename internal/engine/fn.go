package engine

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/codec"
	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// Fn is one function name of an Engine, what pcache's Func and BatchFunc
// share: its key plan, manifest and codec, working on encoded results.
type Fn struct {
	e       *Engine
	name    string
	plan    *keying.Plan
	version string
	codec   codec.Codec
	fp      keying.Fingerprint // result-type fingerprint
	rkey    [32]byte           // resultKey of the codec and fingerprint
	expire  time.Duration      // Expire: entries older than this are misses; 0 never
	zstd    int                // Compress: loose results stored compressed at this zstd level; 0 raw
	m       *manifest.Manifest
	stats   counters
	flights flights
	// remoteUsed, with a remote, is set on each local hit: the remote's
	// watcher then keeps this function's remote index current, so a
	// removal published elsewhere reaches a process that only hits.
	remoteUsed *atomic.Bool
	// computeNs is a moving average of this function's computation times
	// in this process (0: none yet): whether asking the remote once more
	// before computing is worth a request.
	computeNs atomic.Int64
}

// Computed records how long one computation took.
func (c *Fn) Computed(took time.Duration) {
	for {
		old := c.computeNs.Load()
		avg := int64(took)
		if old != 0 {
			avg = old - old/8 + int64(took)/8
		}
		if c.computeNs.CompareAndSwap(old, max(avg, 1)) {
			return
		}
	}
}

// expired reports whether entry e is older than the function's Expire.
func (c *Fn) expired(e *record.Entry) bool {
	return c.expire > 0 && c.e.opts.Now().UnixNano()-e.Time > int64(c.expire)
}

// WorthAsking reports whether a computation of this function costs more
// than asking the remote again (twice its typical request): then a miss
// reads the remote index once more, and claims the key's lease, before it
// computes, so that a team does not compute one result twice. A function
// not computed yet in this process is assumed to be worth it.
func (c *Fn) WorthAsking() bool {
	t := c.e.remote
	if t == nil {
		return false
	}
	avg := c.computeNs.Load()
	return avg == 0 || time.Duration(avg) >= 2*t.Latency()
}

// Spec is what a wrap of one function compiles before it needs a Store:
// its name checked, options applied, result type checked against the codec,
// key plan compiled. Memoizers compile it when they are built (so mistakes
// fail at start-up) and bind it to the default Store on first use.
type Spec struct {
	Name    string
	Plan    *keying.Plan
	Version string
	Codec   codec.Codec
	Type    keying.Fingerprint // the result type's
	Expire  time.Duration      // 0: never
	Zstd    int                // Compress: the zstd level of loose results; 0 raw
}

// Bind makes the Fn of a compiled spec in this Engine.
func (s *Engine) Bind(sp *Spec) (*Fn, error) {
	if err := s.claimName(sp.Name); err != nil {
		return nil, Errorf("wrap: %w", err)
	}
	m, err := s.manifest(sp.Name)
	if err != nil {
		return nil, err
	}
	c := &Fn{e: s, name: sp.Name, plan: sp.Plan, version: sp.Version, codec: sp.Codec,
		fp: sp.Type, rkey: resultKey(sp.Codec.Name(), sp.Type), expire: sp.Expire, zstd: sp.Zstd, m: m}
	if s.remote != nil {
		c.remoteUsed = s.remote.Used(sp.Name)
	}
	if sp.Expire > 0 {
		s.mu.Lock()
		if s.expiries == nil {
			s.expiries = map[string][]expiry{}
		}
		s.expiries[sp.Name] = append(s.expiries[sp.Name], expiry{sp.Type, sp.Expire})
		s.mu.Unlock()
	}
	return c, nil
}

// Name returns the function's name.
func (c *Fn) Name() string { return c.name }

// Codec returns the function's result codec.
func (c *Fn) Codec() codec.Codec { return c.codec }

// Warn logs a problem of this function's cache that the call survives.
func (c *Fn) Warn(msg string, k *CallKey, err error) {
	args := []any{"function", c.name}
	if k != nil {
		args = append(args, "key", fmt.Sprintf("%x", k.Hash[:6]))
	}
	c.e.log.Warn("pcache: "+msg, append(args, "err", err)...)
}

// Closed reports whether the Engine is closed: calls then compute without
// the cache.
func (c *Fn) Closed() bool { return c.e.closed.Load() }

// HasRemote reports whether the Engine has a remote tier.
func (c *Fn) HasRemote() bool { return c.e.remote != nil }

// Logger returns the Engine's logger.
func (c *Fn) Logger() *slog.Logger { return c.e.log }

// StrictStore reports whether a result that cannot be stored is an error
// of the call (ReturnStoreErrors).
func (c *Fn) StrictStore() bool { return c.e.opts.StrictStore }

// CreateObject starts a result written as an object of its own (a Blob)
// in the Engine's object store.
func (c *Fn) CreateObject() (*cas.Writer, error) {
	if err := c.e.storable(); err != nil {
		return nil, err
	}
	return c.e.cas.Create()
}

// OpenObject opens stored object id for reading (unverified: a hit
// verified it).
func (c *Fn) OpenObject(id cas.ID) (cas.Object, error) { return c.e.cas.OpenObject(id) }

// Compresses reports whether the function's results are stored compressed
// (Compress).
func (c *Fn) Compresses() bool { return c.zstd != 0 }
