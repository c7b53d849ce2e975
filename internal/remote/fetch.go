package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/manifest/record"
)

// ErrUnavailable is wrapped by Fetch's error when an entry's objects could
// not be had from the remote: missing, damaged or the remote failing. The
// caller computes instead.
var ErrUnavailable = errors.New("remote: objects unavailable")

// Fetch streams the objects entry e needs (its result and out files) from
// the remote into the local object store, each verified against its hash
// and size; objects the local store has already are not fetched. A missing
// or damaged remote object is counted and reported as ErrUnavailable, and
// nothing unverified is ever stored.
func (t *Tier) Fetch(ctx context.Context, e *record.Entry) error {
	for _, o := range e.Objects() {
		if o.Size > t.opts.MaxObject {
			t.stats.tooLarge.Add(1)
			t.stats.misses.Add(1)
			return fmt.Errorf("%w: object %x declares %d bytes, more than the %d fetched from a remote", ErrUnavailable, o.ID[:8], o.Size, t.opts.MaxObject)
		}
	}
	for _, o := range e.Objects() {
		if t.store.Known(o.ID) {
			continue // no listing of the pack directory to find out: a download is cheaper
		}
		if o.ID == e.Result && e.Inline != nil {
			// Carried by the record (a small result): stored if its bytes
			// hash to the ID, else downloaded like any other.
			if err := t.store.PutExpect(bytes.NewReader(e.Inline), o.ID, o.Size); err == nil {
				t.stats.inlined.Add(1)
				continue
			} else if errors.Is(err, cas.ErrCorrupt) {
				t.stats.corrupt.Add(1)
			}
		}
		if err := t.fetchEither(ctx, o.ID, o.Size, e.Zstd); err != nil {
			t.stats.misses.Add(1)
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	t.stats.hits.Add(1)
	return nil
}

// fetchEither fetches object id from whichever key the remote holds it
// under: the compressed one first when the record says z, the raw one
// first otherwise, the other after a 404.
func (t *Tier) fetchEither(ctx context.Context, id cas.ID, size int64, zstd bool) error {
	err := t.fetchObject(ctx, id, size, zstd)
	if errors.Is(err, ErrNotExist) {
		t.stats.missing.Add(-1) // counted once, below, if the other key is missing too
		err = t.fetchObject(ctx, id, size, !zstd)
	}
	return err
}

func (t *Tier) fetchObject(ctx context.Context, id cas.ID, size int64, compressed bool) error {
	var damaged error
	// The deadline follows the transfer's progress, not the size the
	// record declares; PutExpect reads at most size+1 bytes and fails on
	// more, so a fast server that sends for ever is stopped there.
	ctx, wd := newWatchdog(ctx, t.opts.Timeout)
	defer wd.stop()
	err := t.requestFor(ctx, "fetch an object", -1, func(ctx context.Context) error {
		key, put := objectKey(id), t.store.PutExpect
		if compressed {
			key, put = compressedKey(id), t.store.PutCompressedExpect
		}
		r, err := t.b.Get(ctx, key)
		if err != nil {
			return err
		}
		defer r.Close()
		body := &readErr{r: wd.reader(r)}
		err = put(body, id, size)
		if body.err != nil && body.err != io.EOF {
			return err // the transfer broke
		}
		if errors.Is(err, cas.ErrCorrupt) {
			damaged = err
			return err
		}
		if err != nil && ctx.Err() == nil {
			// A local failure to store (a full disk): not the remote's.
			return localError{err}
		}
		return err
	})
	if damaged != nil {
		t.stats.corrupt.Add(1)
	}
	if errors.Is(err, ErrNotExist) {
		t.stats.missing.Add(1)
	}
	return err
}

// Publish queues entries of function name (just recorded locally) for the
// remote: they are written to this cache's outbox at once and published in
// the background, objects first. A read-only tier ignores them.
func (t *Tier) Publish(name string, entries ...record.Entry) {
	if t.pub == nil || t.ro.Load() || len(entries) == 0 {
		return
	}
	t.pub.enqueue(name, entries, false)
}

// PublishUse queues records of uses of entries (so the remote's gc, which
// evicts the least recently used, sees them); their objects are not
// uploaded or checked: a use record of an entry whose objects never
// reached the remote is a miss elsewhere, computed and published again.
//
// A use goes to the remote at most once a day per entry: one whose remote
// record (as this cache's mirror has it) was used less than useEvery ago is
// not published again, so machines that only read do not fill the log
// every reader replays with use records.
func (t *Tier) PublishUse(name string, entries ...record.Entry) {
	if t.pub == nil || t.ro.Load() || len(entries) == 0 {
		return
	}
	if fi, err := t.index(name); err == nil {
		entries = slices.DeleteFunc(slices.Clone(entries), func(e record.Entry) bool {
			r, ok, _ := fi.m.Peek(e.KeyHash)
			return ok && r.Result == e.Result && e.LastUse()-r.LastUse() < int64(useEvery)
		})
	}
	if len(entries) > 0 {
		t.pub.enqueue(name, entries, true)
	}
}

// useEvery is how often, at most, a use of one entry is published.
const useEvery = 24 * time.Hour

// Flush waits until everything Publish was given has been published, or
// ctx ends.
func (t *Tier) Flush(ctx context.Context) error {
	if t.pub == nil {
		return nil
	}
	return t.pub.flush(ctx)
}
