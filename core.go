package pcache

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/keying"
	"github.com/pcache/pcache/manifest"
	"github.com/pcache/pcache/outfile"
)

// core is what Func and BatchFunc share: one function name's key plan,
// manifest and codec, working on encoded results.
type core struct {
	s       *Store
	name    string
	plan    *keying.Plan
	version string
	codec   Codec
	m       *manifest.Manifest
	stats   counters
	flights flights
}

func newCore(s *Store, name string, argType reflect.Type, codec Codec, opts []Option) (*core, error) {
	if s == nil {
		return nil, fmt.Errorf("pcache: wrap %q: nil Store", name)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	var o funcOptions
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("pcache: wrap %q: %w", name, err)
		}
	}
	if o.codec != nil {
		codec = o.codec
	}
	plan, err := keying.Compile(argType, o.rules)
	if err != nil {
		return nil, fmt.Errorf("pcache: wrap %q: %w", name, err)
	}
	m, err := s.manifest(name)
	if err != nil {
		return nil, err
	}
	return &core{s: s, name: name, plan: plan, version: o.version, codec: codec, m: m}, nil
}

// newCall keys args. With withOuts, the key's out-file paths are resolved to
// absolute paths (an empty one is an error); without, they are dropped.
func (c *core) newCall(args any, withOuts bool) (keying.Key, error) {
	k, err := c.plan.Key(c.version, args)
	if err != nil {
		return keying.Key{}, fmt.Errorf("pcache: %s: %w", c.name, err)
	}
	if !withOuts {
		k.Outs = nil
		return k, nil
	}
	for i, o := range k.Outs {
		p, err := outfile.Abs(o.Path)
		if err != nil {
			return keying.Key{}, fmt.Errorf("pcache: %s: out file argument %q: %w", c.name, o.Arg, err)
		}
		k.Outs[i].Path = p
	}
	return k, nil
}

// get serves a call from the cache: the entry's result bytes, verified, with
// every out file restored to its requested path. A missing or corrupt object
// is a miss (counted in Stats.Corrupt), never an error.
//
// A bad entry is counted in Stats.Corrupt only when countBad is set, so a
// re-check under the key lock does not count the same entry twice.
func (c *core) get(ctx context.Context, cl keying.Key, countBad bool) ([]byte, bool, error) {
	return c.getWith(ctx, cl, countBad, c.m.Lookup)
}

// getWith is get with the manifest lookup to use (Lookup, or Peek for batches).
func (c *core) getWith(ctx context.Context, cl keying.Key, countBad bool, lookup func([32]byte) (manifest.Entry, bool, error)) ([]byte, bool, error) {
	e, ok, err := lookup(cl.Hash)
	if err != nil {
		return nil, false, fmt.Errorf("pcache: %s: lookup: %w", c.name, err)
	}
	if !ok || e.Codec != c.codec.Name() {
		return nil, false, nil
	}
	data, err := c.s.cas.GetSize(e.Result, e.Size)
	if err != nil {
		if c.badObject(e.Result, err, countBad) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("pcache: %s: read result: %w", c.name, err)
	}
	if len(cl.Outs) > 0 {
		ok, err := c.restoreOuts(ctx, e, cl.Outs, countBad)
		if err != nil || !ok {
			return nil, false, err
		}
	}
	return data, true, nil
}

// badObject reports whether err means the object is unusable (absent or
// corrupt) and, if corrupt, moves it aside so a recompute can store it again.
func (c *core) badObject(id cas.ID, err error, count bool) bool {
	switch {
	case errors.Is(err, cas.ErrCorrupt):
		// The object may be fine and the entry's recorded size wrong (a
		// damaged or forged record): only an object that fails its own hash
		// is moved aside, so entries sharing a good object keep hitting.
		if c.s.cas.Verify(id) != nil {
			c.s.cas.Quarantine(id) // best effort: another caller may have moved it already
		}
	case errors.Is(err, cas.ErrNotFound):
	default:
		return false
	}
	if count {
		c.count(statCorrupt)
	}
	return true
}

// restoreOuts makes every requested out path hold the entry's recorded
// contents. It reports false when a recorded content is gone (recompute).
func (c *core) restoreOuts(ctx context.Context, e manifest.Entry, outs []keying.OutArg, countBad bool) (bool, error) {
	if err := c.s.gc.Acquire(ctx); err != nil {
		return false, fmt.Errorf("pcache: %s: %w", c.name, err)
	}
	defer c.s.gc.Release()
	changed := false
	recs := append([]manifest.OutFile(nil), e.Outs...)
	for _, o := range outs {
		i := outIndex(recs, o.Arg)
		if i < 0 {
			return false, nil // entry stored before this out file was declared
		}
		rec, ch, err := outfile.Restore(c.s.cas, recs[i], o.Path)
		if err != nil {
			if errors.Is(err, outfile.ErrUnavailable) {
				if countBad {
					c.count(statCorrupt)
				}
				return false, nil
			}
			return false, fmt.Errorf("pcache: %s: restore out file %q to %s: %w", c.name, o.Arg, o.Path, err)
		}
		recs[i], changed = rec, changed || ch
	}
	if changed {
		// Record the new paths so a later hit can leave them untouched or
		// recover from them. Losing this record costs a re-hash, nothing else.
		e.Outs, e.Time = recs, 0
		c.m.Append(e)
	}
	return true, nil
}

func outIndex(recs []manifest.OutFile, arg string) int {
	for i, r := range recs {
		if r.Arg == arg {
			return i
		}
	}
	return -1
}

// resolve serves cl from the cache or computes it once: goroutines of this
// process wait for one leader, processes wait on a per-key file lock.
func (c *core) resolve(ctx context.Context, cl keying.Key, compute func(context.Context) ([]byte, error)) ([]byte, error) {
	waited := false
	for attempt := 0; ; attempt++ {
		data, ok, err := c.get(ctx, cl, attempt == 0)
		if err != nil {
			return nil, err
		}
		if ok {
			if waited {
				c.count(statWaits)
			}
			c.count(statHits)
			return data, nil
		}
		if modeOf(ctx) == modeErrorOnMiss {
			c.count(statMisses)
			return nil, fmt.Errorf("pcache: %s: %w", c.name, ErrCacheMiss)
		}
		fl, leader := c.flights.join(cl.Hash)
		if !leader && attempt < 3 {
			select {
			case <-fl.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if fl.err != nil && !isContextErr(fl.err) {
				return nil, fl.err
			}
			waited = true
			continue // the leader stored it (or gave up): look again
		}
		if !leader {
			// The entry keeps vanishing after its leader stores it (objects
			// deleted under us): compute without deduplication.
			return c.lead(ctx, cl, compute, false)
		}
		data, err = c.lead(ctx, cl, compute, false)
		c.flights.land(cl.Hash, fl, err)
		return data, err
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// lead computes a key under its cross-process lock, unless another process
// stored it while this one waited for the lock.
//
// With force, the entry found is ignored (it could not be decoded) and
// replaced by the new result.
func (c *core) lead(ctx context.Context, cl keying.Key, compute func(context.Context) ([]byte, error), force bool) ([]byte, error) {
	unlock, err := c.lockKey(ctx, cl.Hash)
	if err != nil {
		return nil, fmt.Errorf("pcache: %s: %w", c.name, err)
	}
	committed := false
	defer func() { unlock(committed) }()
	if force {
		// fall through to compute
	} else if data, ok, err := c.get(ctx, cl, false); err != nil {
		return nil, err
	} else if ok {
		c.count(statWaits)
		c.count(statHits)
		return data, nil
	}
	c.count(statMisses)
	c.count(statComputes)
	data, err := compute(ctx)
	if err != nil {
		c.count(statErrors)
		return nil, err
	}
	if err := c.commit(ctx, []pending{{key: cl, data: data}}); err != nil {
		c.count(statErrors)
		return nil, err
	}
	committed = true
	return data, nil
}

// pending is a computed result waiting to be stored.
type pending struct {
	key  keying.Key
	data []byte
}

// commit stores results and out files in the CAS and then appends their
// entries to the manifest in one write, holding the gc lock shared so gc
// never deletes an object between its write and its entry's commit. An out
// file the function did not write fails the whole commit: nothing is cached.
func (c *core) commit(ctx context.Context, ps []pending) error {
	if c.s.isClosed() {
		return ErrClosed
	}
	if err := c.s.gc.Acquire(ctx); err != nil {
		return fmt.Errorf("pcache: %s: %w", c.name, err)
	}
	defer c.s.gc.Release()
	entries := make([]manifest.Entry, 0, len(ps))
	now := c.s.opts.now().UnixNano()
	for _, p := range ps {
		e := manifest.Entry{KeyHash: p.key.Hash, Key: p.key.Bytes, Codec: c.codec.Name(), Size: int64(len(p.data))}
		// The newest record of a key wins. A record we are replacing (it was
		// unusable) may carry a time from a clock ahead of ours: stamp the
		// replacement after it, or it would never win.
		if old, ok, _ := c.m.Peek(e.KeyHash); ok && old.Time >= now {
			e.Time = old.Time + 1
		}
		for _, o := range p.key.Outs {
			rec, err := outfile.Capture(c.s.cas, o.Arg, o.Path)
			if err != nil {
				return fmt.Errorf("pcache: %s: out file %q: %w (nothing was cached)", c.name, o.Arg, err)
			}
			e.Outs = append(e.Outs, rec)
		}
		id, err := c.s.cas.Put(p.data)
		if err != nil {
			return fmt.Errorf("pcache: %s: store result: %w", c.name, err)
		}
		e.Result = id
		entries = append(entries, e)
	}
	if err := c.m.Append(entries...); err != nil {
		return fmt.Errorf("pcache: %s: commit: %w", c.name, err)
	}
	c.add(statStores, int64(len(entries)))
	return nil
}

// contains reports whether cl has an entry whose result object is present.
func (c *core) contains(cl keying.Key) (bool, error) {
	e, ok, err := c.m.Lookup(cl.Hash)
	if err != nil || !ok || e.Codec != c.codec.Name() {
		return false, err
	}
	return c.s.cas.Has(e.Result)
}
