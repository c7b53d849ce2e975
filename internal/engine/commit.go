package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/outfile"
)

// Pending is a computed result waiting to be stored.
type Pending struct {
	Key    *CallKey
	Data   []byte
	Object *cas.Writer // a result written as a stream (a Blob, a large numeric slice): Data is unused
	Prev   int64       // Time of the unusable entry it replaces, if any
}

// enterToWrite enters the gc turnstile to store objects and record the
// entries that name them (gc cannot run until leave). After a new hold of
// the gc lock, gc may have repacked since this process last wrote, so the
// pack set is refreshed: an object of a pack that is gone must not be taken
// for stored.
func (c *Fn) enterToWrite(ctx context.Context) (leave func(), err error) {
	c.e.startMerge()
	gen, err := c.e.gate.Enter(ctx)
	if err != nil {
		return nil, err
	}
	if c.e.gcGen.Swap(gen) != gen {
		c.e.cas.RefreshPacks()
	}
	return c.e.gate.Leave, nil
}

// MissingOut reports whether a commit failed because the function did not
// write a declared out file: an error of the call, not of the cache.
func MissingOut(err error) bool { return errors.Is(err, outfile.ErrMissing) }

// Commit stores results and out files in the object store and then appends
// their entries to the manifest in one write, inside the gc turnstile so gc
// never deletes an object between its write and its entry's commit. An out
// file the function did not write fails the whole commit: nothing is cached.
func (c *Fn) Commit(ctx context.Context, ps []Pending) error {
	if err := c.e.storable(); err != nil {
		return err
	}
	leave, err := c.enterToWrite(ctx)
	if err != nil {
		return err
	}
	defer leave()
	entries := make([]record.Entry, 0, len(ps))
	results := make([][]byte, 0, len(ps)) // of the pendings without an Object, in order
	now := c.e.opts.Now().UnixNano()
	for _, p := range ps {
		e := record.Entry{KeyHash: p.Key.Hash, Key: p.Key.Bytes, Codec: c.entryCodec(p.Data), Size: int64(len(p.Data)), Type: c.fp}
		// The newest record of a key wins. A record we are replacing (it was
		// unusable) may carry a time from a clock ahead of ours: stamp the
		// replacement after it, or it would never win.
		if p.Prev >= now {
			e.Time = p.Prev + 1
		}
		for _, o := range p.Key.Outs {
			recs, err := c.captureOut(o)
			if err != nil {
				return err
			}
			e.Outs = append(e.Outs, recs...)
		}
		if p.Object == nil {
			results = append(results, p.Data)
		}
		entries = append(entries, e)
	}
	// Every result with one append to this process's pack (large ones as
	// files), streamed ones renamed into place, then every entry with one
	// append to the journal.
	var ids []cas.ID
	if len(results) > 0 {
		if ids, err = c.e.cas.PutBatchCompressed(results, cas.Compression(c.zstd)); err != nil {
			return fmt.Errorf("store result: %w", err)
		}
	}
	for i := range entries {
		if w := ps[i].Object; w != nil {
			if entries[i].Result, entries[i].Size, err = w.Commit(); err != nil {
				return fmt.Errorf("store result: %w", err)
			}
			continue
		}
		entries[i].Result, ids = ids[0], ids[1:]
	}
	if err := c.m.Append(entries...); err != nil { // stamps entries' Time
		return fmt.Errorf("commit: %w", err)
	}
	c.add(StatStores, int64(len(entries)))
	c.publish(entries)
	return nil
}

// captureOut stores what the function wrote at out argument o's path: a
// file, or a directory's tree (the kind is told after the call: the same
// out rule declares both).
func (c *Fn) captureOut(o keying.OutArg) ([]record.OutFile, error) {
	c.e.outPaths.add(o.Path)
	if fi, err := os.Stat(o.Path); err == nil && fi.IsDir() {
		recs, err := outfile.CaptureTree(c.e.cas, o.Arg, o.Path)
		if err != nil {
			return nil, fmt.Errorf("out directory %q: %w", o.Arg, err)
		}
		return recs, nil
	}
	rec, err := outfile.Capture(c.e.cas, o.Arg, o.Path)
	if err != nil {
		return nil, fmt.Errorf("out file %q: %w", o.Arg, err)
	}
	return []record.OutFile{rec}, nil
}

// StoreFailed handles a result that was computed but could not be stored:
// counted, logged, and an error only under ReturnStoreErrors.
func (c *Fn) StoreFailed(k *CallKey, err error) error {
	if errors.Is(err, ErrReadOnly) {
		return nil // a read-only cache computes misses without storing: not a failure
	}
	c.Count(StatStoreErrors)
	c.Warn("result computed but not stored", k, err)
	if c.e.opts.StrictStore {
		return Errorf("%s: result computed but not stored: %w", c.name, err)
	}
	return nil
}

// LockKey takes the cross-process lock of k (none in a read-only Store).
// Only the caller's context ending is an error. The lock only saves other
// processes computing the same key at once, so when it cannot be had (held
// past the wait limit, or its file is not usable: a directory or a link
// planted at locks/keys.ofd) the call goes on without it, logged.
func (c *Fn) LockKey(ctx context.Context, k *CallKey) (func(committed bool), error) {
	if c.e.keys == nil {
		return func(bool) {}, nil
	}
	unlock, err := c.e.keys.Lock(ctx, c.keyLockID(k.Hash))
	if err != nil {
		if ctx.Err() != nil {
			return nil, Errorf("%s: waiting for another process computing key %x: %w", c.name, k.Hash[:6], ctx.Err())
		}
		c.Warn("key lock unavailable; computing without it", k, err)
		return func(bool) {}, nil
	}
	return unlock, nil
}

// keyLockID names the cross-process lock of one key of one function.
func (c *Fn) keyLockID(h record.KeyHash) [32]byte {
	hs := blake3.New()
	hs.WriteString(c.name)
	hs.Write([]byte{0})
	hs.Write(h[:])
	var id [32]byte
	hs.Sum(id[:0])
	return id
}
