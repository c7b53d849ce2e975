package pcache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/outfile"
)

// pending is a computed result waiting to be stored.
type pending struct {
	key  *callKey
	data []byte
	prev int64 // Time of the unusable entry it replaces, if any
}

// enterToWrite enters the gc turnstile to store objects and record the
// entries that name them (gc cannot run until leave). After a new hold of
// the gc lock, gc may have repacked since this process last wrote, so the
// pack set is refreshed: an object of a pack that is gone must not be taken
// for stored.
func (c *core) enterToWrite(ctx context.Context) (leave func(), err error) {
	gen, err := c.s.gate.Enter(ctx)
	if err != nil {
		return nil, err
	}
	if c.s.gcGen.Swap(gen) != gen {
		c.s.cas.RefreshPacks()
	}
	return c.s.gate.Leave, nil
}

// errMissing reports whether a commit failed because the function did not
// write a declared out file: an error of the call, not of the cache.
func errMissing(err error) bool { return errors.Is(err, outfile.ErrMissing) }

// commit stores results and out files in the object store and then appends
// their entries to the manifest in one write, inside the gc turnstile so gc
// never deletes an object between its write and its entry's commit. An out
// file the function did not write fails the whole commit: nothing is cached.
func (c *core) commit(ctx context.Context, ps []pending) error {
	if c.s.readOnly {
		return ErrReadOnly
	}
	if c.s.closed.Load() {
		return ErrClosed
	}
	leave, err := c.enterToWrite(ctx)
	if err != nil {
		return err
	}
	defer leave()
	entries := make([]record.Entry, 0, len(ps))
	results := make([][]byte, len(ps))
	now := c.s.opts.now().UnixNano()
	for i, p := range ps {
		e := record.Entry{KeyHash: p.key.hash, Key: p.key.bytes, Codec: c.entryCodec(p.data), Size: int64(len(p.data)), Type: c.fp}
		// The newest record of a key wins. A record we are replacing (it was
		// unusable) may carry a time from a clock ahead of ours: stamp the
		// replacement after it, or it would never win.
		if p.prev >= now {
			e.Time = p.prev + 1
		}
		for _, o := range p.key.outs {
			c.s.outPaths.add(o.Path)
			rec, err := outfile.Capture(c.s.cas, o.Arg, o.Path)
			if err != nil {
				return fmt.Errorf("out file %q: %w", o.Arg, err)
			}
			e.Outs = append(e.Outs, rec)
		}
		results[i] = p.data
		entries = append(entries, e)
	}
	// Every result with one append to this process's pack (large ones as
	// files), then every entry with one append to the journal.
	ids, err := c.putResults(results)
	if err != nil {
		return fmt.Errorf("store result: %w", err)
	}
	for i := range entries {
		entries[i].Result = ids[i]
	}
	if err := c.m.Append(entries...); err != nil { // stamps entries' Time
		return fmt.Errorf("commit: %w", err)
	}
	c.add(statStores, int64(len(entries)))
	c.publish(entries)
	return nil
}

// storeFailed handles a result that was computed but could not be stored:
// counted, logged, and an error only under ReturnStoreErrors.
func (c *core) storeFailed(k *callKey, err error) error {
	if errors.Is(err, ErrReadOnly) {
		return nil // a read-only cache computes misses without storing: not a failure
	}
	c.count(statStoreErrors)
	c.warn("result computed but not stored", k, err)
	if c.s.opts.strictStore {
		return errorf("%s: result computed but not stored: %w", c.name, err)
	}
	return nil
}

// lockKey takes the cross-process lock of k (none in a read-only Store).
// Only the caller's context ending is an error. The lock only saves other
// processes computing the same key at once, so when it cannot be had (held
// past the wait limit, or its file is not usable: a directory or a link
// planted at locks/keys.ofd) the call goes on without it, logged.
func (c *core) lockKey(ctx context.Context, k *callKey) (func(committed bool), error) {
	if c.s.keys == nil {
		return func(bool) {}, nil
	}
	unlock, err := c.s.keys.Lock(ctx, c.keyLockID(k.hash))
	if err != nil {
		if ctx.Err() != nil {
			return nil, errorf("%s: waiting for another process computing key %x: %w", c.name, k.hash[:6], ctx.Err())
		}
		c.warn("key lock unavailable; computing without it", k, err)
		return func(bool) {}, nil
	}
	return unlock, nil
}

// flight is one in-process computation of a key: goroutines that miss the
// same key while it runs wait for it instead of computing again.
type flight struct {
	done      chan struct{}
	committed bool  // the leader's result (or another process's) is in the manifest
	err       error // the function's error, shared with the waiters; nil otherwise
	waiters   atomic.Int32
}

// flights deduplicates concurrent computations of one function's keys.
type flights struct {
	mu sync.Mutex
	m  map[[32]byte]*flight
}

// join returns the running flight of key, or starts one and reports leader
// == true; the leader must land it exactly once (a deferred land covers
// panics).
func (g *flights) join(key [32]byte) (f *flight, leader bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		f.waiters.Add(1)
		return f, false
	}
	if g.m == nil {
		g.m = map[[32]byte]*flight{}
	}
	f = &flight{done: make(chan struct{})}
	g.m[key] = f
	return f, true
}

// land ends the leader's flight and wakes its waiters.
func (g *flights) land(key [32]byte, f *flight, committed bool, err error) {
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	f.committed, f.err = committed, err
	close(f.done)
}

// wait waits for a flight's leader. A waiter whose context ends stops
// waiting at once.
func (f *flight) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// keyLockID names the cross-process lock of one key of one function.
func (c *core) keyLockID(h record.KeyHash) [32]byte {
	hs := blake3.New()
	hs.WriteString(c.name)
	hs.Write([]byte{0})
	hs.Write(h[:])
	var id [32]byte
	hs.Sum(id[:0])
	return id
}
