package pcache

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// core is what Func and BatchFunc share: one function name's key plan,
// manifest and codec, working on encoded results.
type core struct {
	s       *Store
	name    string
	plan    *keying.Plan
	version string
	codec   Codec
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

// computed records how long one computation took.
func (c *core) computed(took time.Duration) {
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
func (c *core) expired(e *record.Entry) bool {
	return c.expire > 0 && c.s.opts.now().UnixNano()-e.Time > int64(c.expire)
}

// worthAsking reports whether a computation of this function costs more
// than asking the remote again (twice its typical request): then a miss
// reads the remote index once more, and claims the key's lease, before it
// computes, so that a team does not compute one result twice. A function
// not computed yet in this process is assumed to be worth it.
func (c *core) worthAsking() bool {
	t := c.s.remote
	if t == nil {
		return false
	}
	avg := c.computeNs.Load()
	return avg == 0 || time.Duration(avg) >= 2*t.Latency()
}

// spec is what a wrap of one function compiles before it needs a Store:
// its name checked, options applied, result type checked against the codec,
// key plan compiled. Memoizers compile it when they are built (so mistakes
// fail at start-up) and bind it to the default Store on first use.
type spec struct {
	name    string
	plan    *keying.Plan
	version string
	codec   Codec
	fp      keying.Fingerprint
	expire  time.Duration // Expire: 0 never
	zstd    int           // Compress: the zstd level; 0 raw
}

func compileSpec(name string, argType, resultType reflect.Type, codec Codec, opts []Option) (*spec, error) {
	if err := layout.CheckName(name); err != nil {
		return nil, errorf("wrap: %w", err)
	}
	var o funcOptions
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, errorf("wrap %q: %w", name, err)
		}
	}
	if o.params != nil {
		return nil, errorf("wrap %q: Params names the parameters of Memo2 and Memo3; a wrapped function's argument struct names its own fields", name)
	}
	if o.codec != nil {
		codec = o.codec
	}
	if tc, ok := codec.(typeChecker); ok {
		if err := tc.CheckType(resultType); err != nil {
			return nil, errorf("wrap %q: result type %v: %w", name, resultType, err)
		}
	}
	plan, err := keying.Compile(argType, o.rules)
	if err != nil {
		return nil, errorf("wrap %q: %w", name, err)
	}
	return &spec{name: name, plan: plan, version: o.version, codec: codec, fp: keying.ResultFingerprint(resultType), expire: o.expire, zstd: o.compress}, nil
}

func newCore(s *Store, name string, argType, resultType reflect.Type, codec Codec, opts []Option) (*core, error) {
	if s == nil {
		return nil, errorf("wrap %q: nil Store", name)
	}
	sp, err := compileSpec(name, argType, resultType, codec, opts)
	if err != nil {
		return nil, err
	}
	return bindCore(s, sp)
}

// bindCore makes the core of a compiled spec in Store s.
func bindCore(s *Store, sp *spec) (*core, error) {
	if err := s.claimName(sp.name); err != nil {
		return nil, errorf("wrap: %w", err)
	}
	m, err := s.manifest(sp.name)
	if err != nil {
		return nil, err
	}
	c := &core{s: s, name: sp.name, plan: sp.plan, version: sp.version, codec: sp.codec,
		fp: sp.fp, rkey: resultKey(sp.codec.Name(), sp.fp), expire: sp.expire, zstd: sp.zstd, m: m}
	if s.remote != nil {
		c.remoteUsed = s.remote.Used(sp.name)
	}
	return c, nil
}

// warn logs a problem of this function's cache that the call survives.
func (c *core) warn(msg string, k *callKey, err error) {
	args := []any{"function", c.name}
	if k != nil {
		args = append(args, "key", fmt.Sprintf("%x", k.hash[:6]))
	}
	c.s.log.Warn("pcache: "+msg, append(args, "err", err)...)
}
