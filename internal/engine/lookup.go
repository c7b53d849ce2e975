package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/codec"
	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/outfile"
)

// found is what a lookup found.
type Found struct {
	E    record.Entry // the entry served (on a hit)
	Hit  bool
	Bad  bool  // an entry was found unusable (the caller counts Stats.Corrupt once per call)
	Prev int64 // Time of an unusable entry of the key (a replacement must be stamped after it)
}

// Lookup finds k's entry (refreshing the manifest view if it may be stale)
// and returns its result bytes, verified, with every out file restored to
// its requested path. decode turns the bytes into the caller's value and
// fails if they do not decode as the result type. Anything wrong with the
// entry or its objects is a miss, never an error: storage trouble degrades
// to computing.
func (c *Fn) Lookup(ctx context.Context, k *CallKey, dst Sink) Found {
	return c.lookupIn(ctx, k, dst, c.m.Lookup)
}

// lookupIn is lookup with the manifest lookup to use (Lookup, or Peek for a
// batch that refreshed the view once for all its elements).
func (c *Fn) lookupIn(ctx context.Context, k *CallKey, dst Sink, get func(record.KeyHash) (record.Entry, bool, error)) Found {
	e, ok, err := get(k.Hash)
	return c.lookupEntry(ctx, k, dst, e, ok, err, nil)
}

// lookupEntry is lookupIn with what the manifest lookup returned for k. A
// use to record goes to uses when it is not nil (see touch).
func (c *Fn) lookupEntry(ctx context.Context, k *CallKey, dst Sink, e record.Entry, ok bool, err error, uses *Uses) Found {
	if err != nil {
		c.Warn("lookup failed; computing", k, err)
	}
	if ok && c.expired(&e) {
		return Found{} // computed again, and stored over it
	}
	if ok {
		switch c.serve(ctx, k, &e, dst, false, uses) {
		case served:
			if u := c.remoteUsed; u != nil && !u.Load() {
				u.Store(true)
			}
			return Found{Hit: true, E: e}
		case unusable:
			return Found{Bad: true, Prev: e.Time}
		}
		return Found{Prev: e.Time}
	}
	// An entry written before entries recorded their result type is served
	// only if its bytes are exactly the encoding of a value of the result
	// type; it is then re-recorded under the new key.
	if e, ok := c.legacyEntry(k); ok && !c.expired(&e) {
		if c.serve(ctx, k, &e, dst, true, nil) == served {
			return Found{Hit: true, E: e}
		}
	}
	return Found{}
}

// legacyEntry returns the entry of k's arguments written before entries
// recorded their result type (keyed by the arguments alone), with this
// function's codec.
func (c *Fn) legacyEntry(k *CallKey) (record.Entry, bool) {
	e, ok, _ := c.m.Peek(k.Legacy)
	return e, ok && e.Type == ([32]byte{}) && e.Codec == c.codec.Name()
}

// legacyFits reports whether legacy entry e's bytes are exactly the
// encoding of a value of the result type (decode, then encode again, gives
// the same bytes): then nothing was dropped, zero-filled or converted.
func (c *Fn) legacyFits(e *record.Entry, dst Sink) bool {
	data, err := c.e.cas.Get(e.Result, e.Size)
	if err == nil {
		data, err = c.entryData(e, data)
	}
	return err == nil && dst.Decode(data) == nil && c.roundTrips(data, dst)
}

// outcome is what serve made of an entry.
type outcome int

const (
	served   outcome = iota
	unusable         // its object is missing or corrupt, or it does not decode
	passed           // not for this call (another codec, a legacy entry of another type, out files that cannot be restored)
)

// serve reads and decodes entry e for k and restores its out files. legacy
// entries must also round-trip; served ones are re-recorded under k.Hash.
func (c *Fn) serve(ctx context.Context, k *CallKey, e *record.Entry, dst Sink, legacy bool, uses *Uses) outcome {
	if oc, why := c.decodeEntry(e, dst, legacy); oc != served {
		c.missed(k, e, why)
		return oc
	}
	if len(k.Outs) > 0 {
		switch c.restoreOuts(ctx, k, e) {
		case unusable:
			return unusable
		case passed:
			return passed
		}
	}
	switch {
	case k.NoWrite:
	case legacy:
		c.upgrade(k, e)
	default:
		c.touch(e, uses)
	}
	return served
}

// reason is why a stored entry is not served: one sentence for people
// (Explain shows it), and the error behind it.
type reason struct {
	why string
	err error
	log string // what a call logs of it ("": nothing)
}

// decodeEntry reads entry e's result, verified, and decodes it into dst,
// changing nothing (a call's serve and Explain both ask it): served, or
// why not. A legacy entry (written before entries recorded their result
// type) must also encode back to exactly its bytes.
func (c *Fn) decodeEntry(e *record.Entry, dst Sink, legacy bool) (outcome, reason) {
	if !c.readsCodec(e.Codec) {
		return passed, reason{why: fmt.Sprintf("an entry exists, written with codec %q; this function uses %q", e.Codec, c.codec.Name())}
	}
	if e.Codec == codec.BlobName {
		return c.objectEntry(e, dst)
	}
	if !legacy && e.Size >= DirectFrom && e.Codec == c.codec.Name() {
		if oc, r, ok := c.directEntry(e, dst); ok {
			return oc, r
		}
	}
	data, err := c.e.cas.Get(e.Result, e.Size)
	if err != nil {
		return unusable, readFailed(err)
	}
	if data, err = c.entryData(e, data); err == nil {
		err = dst.Decode(data)
	}
	switch {
	case err != nil && legacy:
		return passed, reason{why: "an entry of an earlier pcache release exists, written for another result type", err: err}
	case err != nil:
		return unusable, reason{"an entry exists but its result does not decode as this result type: " + err.Error(), err, "stored result does not decode; recomputing"}
	case legacy && !c.roundTrips(data, dst):
		return passed, reason{why: "an entry of an earlier pcache release exists, written for another result type"}
	}
	return served, reason{}
}

// missed acts on an entry a call could not serve: a corrupt result object
// is moved aside (so a recompute can store it again), and what a call
// survives is logged.
func (c *Fn) missed(k *CallKey, e *record.Entry, r reason) {
	if errors.Is(r.err, cas.ErrCorrupt) && !c.e.readOnly && c.e.cas.Verify(e.Result) != nil {
		// The object may be fine and the entry's recorded size wrong (a
		// damaged or forged record): only an object that fails its own hash
		// is moved aside, so entries sharing a good object keep hitting.
		c.e.cas.Quarantine(e.Result) // best effort: another caller may have moved it already
	}
	if r.log != "" {
		c.Warn(r.log, k, r.err)
	}
}

// roundTrips reports whether the value dst decoded from data encodes back
// to exactly data.
func (c *Fn) roundTrips(data []byte, dst Sink) bool {
	b, err := dst.reencode()
	return err == nil && c.SameResult(b, data)
}

// SameResult reports whether two encodings of results are of the same
// value: equal bytes, and for the raw codec also both nil or both not (a
// nil []byte and an empty one are different results).
func (c *Fn) SameResult(a, b []byte) bool {
	if n, ok := c.codec.(codec.Numeric); ok {
		return n.SameEncoding(a, b)
	}
	if _, raw := c.codec.(codec.Raw); raw && (a == nil) != (b == nil) {
		return false
	}
	return bytes.Equal(a, b)
}

// entryCodec is the codec name recorded with an entry whose encoded result
// is data: the codec's, or codec.RawNil for a nil []byte result of the raw codec.
func (c *Fn) entryCodec(data []byte) string {
	if _, raw := c.codec.(codec.Raw); raw && data == nil {
		return codec.RawNil
	}
	return c.codec.Name()
}

// readsCodec reports whether an entry recorded with codec name is this
// function's codec's to decode.
func (c *Fn) readsCodec(name string) bool {
	if name == c.codec.Name() {
		return true
	}
	_, raw := c.codec.(codec.Raw)
	return raw && name == codec.RawNil
}

// entryData returns the bytes to decode for entry e, whose result object
// holds data: for the raw codec, nil for an entry recorded as a nil result
// (whose object must be empty) and never nil otherwise.
func (c *Fn) entryData(e *record.Entry, data []byte) ([]byte, error) {
	if _, raw := c.codec.(codec.Raw); !raw {
		return data, nil
	}
	if e.Codec == codec.RawNil {
		if len(data) != 0 {
			return nil, fmt.Errorf("an entry of a nil result names an object of %d bytes", len(data))
		}
		return nil, nil
	}
	if data == nil {
		return []byte{}, nil
	}
	return data, nil
}

// DirectFrom is the size from which a result whose codec reads results
// directly is read that way (once, into the result's memory, verified,
// instead of into a buffer that is then copied), and one whose codec
// writes results as a stream is written that way.
const DirectFrom = 1 << 20

// directEntry decodes entry e's result by reading its object straight into
// dst's memory, when dst's codec does that; handled is false when it was
// not done (then the bytes are read whole, as for any result).
func (c *Fn) directEntry(e *record.Entry, dst Sink) (oc outcome, r reason, handled bool) {
	id := e.Result // the closure takes the ID, not e: e stays on its caller's stack
	handled, err := dst.decodeDirect(e.Size, func(buf []byte) error { return c.e.cas.GetInto(id, buf) })
	if !handled {
		return 0, reason{}, false
	}
	if err != nil {
		return unusable, readFailed(err), true
	}
	return served, reason{}, true
}

// objectEntry serves an entry whose result is an object of its own (a
// Blob): the object is verified, reading it as a stream (memory use does
// not grow with its size), and handed to dst by its ID.
func (c *Fn) objectEntry(e *record.Entry, dst Sink) (outcome, reason) {
	if err := c.e.cas.Verify(e.Result); err != nil {
		return unusable, readFailed(err)
	}
	// Callers read the object at any offset, so it must be there as
	// itself (not only as a compressed copy another function stored).
	o, err := c.e.cas.OpenObject(e.Result)
	if err != nil {
		return unusable, readFailed(err)
	}
	n, err := o.Seek(0, io.SeekEnd)
	o.Close()
	if err != nil || n != e.Size {
		return unusable, reason{why: fmt.Sprintf("an entry exists but its result object's size (%d) is not the recorded one (%d)", n, e.Size)}
	}
	if !dst.fromObject(e.Result, e.Size) {
		return passed, reason{why: "an entry exists whose result is an object of its own; this function's result type is not pcache.Blob"}
	}
	return served, reason{}
}

// readFailed is the reason an entry whose result object could not be read
// (missing, corrupt, or failing) is not served.
func readFailed(err error) reason {
	switch {
	case errors.Is(err, cas.ErrNotFound):
		return reason{why: "an entry exists but its result object is missing (gc, or a partial copy); a call recomputes it", err: err}
	case errors.Is(err, cas.ErrCorrupt):
		return reason{"an entry exists but its result object is corrupt; a call recomputes it", err, "stored object is corrupt; recomputing"}
	}
	return reason{"an entry exists but its result cannot be read: " + err.Error(), err, "reading a stored result failed; computing"}
}

// restoreOuts makes every requested out path hold the entry's recorded
// contents. When that cannot be done (the recorded content is gone: the
// entry is unusable; the path cannot be written, or the entry predates the
// out file: passed) the call is computed, as it would be without a cache.
func (c *Fn) restoreOuts(ctx context.Context, k *CallKey, e *record.Entry) outcome {
	if !c.e.readOnly {
		if _, err := c.e.gate.Enter(ctx); err != nil {
			c.Warn("restoring out files: waiting for gc; computing", k, err)
			return passed
		}
		defer c.e.gate.Leave()
	}
	// A copy: the entry's records (their paths included) may be shared with
	// the manifest's view, and Restore updates the paths.
	recs := slices.Clone(e.Outs)
	for i := range recs {
		recs[i].Paths = slices.Clone(recs[i].Paths)
	}
	changed := false
	for _, o := range k.Outs {
		c.e.outPaths.add(o.Path)
		var ch bool
		var err error
		if outfile.IsTree(recs, o.Arg) {
			recs, ch, err = c.restoreTree(recs, o)
		} else if i := outIndex(recs, o.Arg); i < 0 {
			return passed // stored before this out file was declared
		} else {
			recs[i], ch, err = outfile.Restore(c.e.cas, recs[i], o.Path, c.e.outPaths.has)
		}
		if err != nil {
			if errors.Is(err, outfile.ErrUnavailable) {
				return unusable
			}
			c.Warn(fmt.Sprintf("restoring out file %q to %s failed; computing", o.Arg, o.Path), k, err)
			return passed
		}
		changed = changed || ch
	}
	if changed && !k.NoWrite {
		// Record the new paths so a later hit can leave them untouched or
		// recover from them: the same entry (same Time), used now. Losing
		// this record costs a re-hash, nothing else.
		up := *e
		up.Outs = recs
		up.Used = c.e.opts.Now().UnixNano()
		c.m.Append(up)
	}
	return served
}

// restoreTree restores the directory of out argument o from recs, and
// returns recs with the tree's records updated.
func (c *Fn) restoreTree(recs []outfile.File, o keying.OutArg) ([]outfile.File, bool, error) {
	tree, ch, err := outfile.RestoreTree(c.e.cas, outfile.Tree(recs, o.Arg), o.Arg, o.Path, c.e.outPaths.has)
	if err != nil || !ch {
		return recs, false, err
	}
	rest := slices.DeleteFunc(recs, func(r outfile.File) bool { return strings.HasPrefix(r.Arg, outfile.TreeRoot(o.Arg)) })
	return append(rest, tree...), true, nil
}

func outIndex(recs []outfile.File, arg string) int {
	for i, r := range recs {
		if r.Arg == arg {
			return i
		}
	}
	return -1
}

// touch records a use of e when its last recorded use is older than
// cas.TouchQuantum, so gc's age and size limits see which entries are in
// use (objects in packs have no mtime of their own): at once, or, with
// uses not nil, appended there for RecordUses (a batch's chunk records its
// uses with one write, before its call returns).
func (c *Fn) touch(e *record.Entry, uses *Uses) {
	if c.e.readOnly {
		return
	}
	now := c.e.opts.Now().UnixNano()
	if now-e.LastUse() < int64(cas.TouchQuantum) {
		return
	}
	t := *e
	t.Used = now
	if uses != nil {
		*uses = append(*uses, t)
		return
	}
	c.RecordUses(Uses{t})
}

// Uses are the uses of entries a batch's hits served, written together by
// RecordUses.
type Uses []record.Entry

// RecordUses writes uses (touch's) with one append.
func (c *Fn) RecordUses(uses Uses) {
	if len(uses) > 0 && c.m.Touch(uses...) == nil && c.e.remote != nil { // best effort
		// The remote's gc evicts by last use too. A use record does not
		// check the remote for its objects (that would cost a request per
		// object per hour): if they never got there, the record is a miss
		// on other machines, which compute and publish them.
		c.e.remote.PublishUse(c.name, uses...)
	}
}

// upgrade records a legacy entry that was served under the key it has now.
func (c *Fn) upgrade(k *CallKey, e *record.Entry) {
	if c.e.readOnly {
		return
	}
	if _, err := c.e.gate.Enter(context.Background()); err != nil {
		return
	}
	defer c.e.gate.Leave()
	up := []record.Entry{*e}
	up[0].KeyHash, up[0].Type, up[0].Time, up[0].Used = k.Hash, c.fp, 0, 0
	if len(up[0].Key) == 0 {
		up[0].Key = k.Bytes
	}
	if c.m.Append(up...) == nil { // best effort: the legacy entry keeps serving
		c.publish(up)
	}
}

// Contains reports whether k has a usable entry, without computing,
// restoring out files or counting.
func (c *Fn) Contains(k *CallKey, dst Sink) (bool, error) {
	e, ok, err := c.m.Lookup(k.Hash)
	if err != nil {
		return false, Errorf("%s: lookup: %w", c.name, err)
	}
	if ok && c.expired(&e) {
		return false, nil
	}
	if ok && c.readsCodec(e.Codec) {
		return c.e.cas.Has(e.Result)
	}
	if e, ok := c.legacyEntry(k); ok && !c.expired(&e) {
		return c.legacyFits(&e, dst), nil
	}
	return false, nil
}

// OutsDiffer names the first out file of k whose contents (as the
// function just wrote them) differ from what entry e recorded, or "".
func (c *Fn) OutsDiffer(k *CallKey, e *record.Entry) string {
	for _, o := range k.Outs {
		if outfile.IsTree(e.Outs, o.Arg) {
			if what := outfile.TreeDiffers(outfile.Tree(e.Outs, o.Arg), o.Arg, o.Path); what != "" {
				return what
			}
			continue
		}
		i := slices.IndexFunc(e.Outs, func(r record.OutFile) bool { return r.Arg == o.Arg })
		if i < 0 {
			continue
		}
		id, size, err := outfile.Hash(o.Path)
		if err != nil {
			return fmt.Sprintf("out file %q (%v)", o.Arg, err)
		}
		if [32]byte(id) != e.Outs[i].Object || size != e.Outs[i].Size {
			return fmt.Sprintf("out file %q (stored: %d bytes, recomputed: %d bytes)", o.Arg, e.Outs[i].Size, size)
		}
	}
	return ""
}

// RefreshView brings the function's manifest view up to date once, for a
// batch whose elements then look up with LookupCached.
func (c *Fn) RefreshView() error { return c.m.Refresh() }

// LookupCached is Lookup in the view as it is (after RefreshView).
func (c *Fn) LookupCached(ctx context.Context, k *CallKey, dst Sink) Found {
	return c.lookupIn(ctx, k, dst, c.m.Peek)
}

// Peeked is what the view held for one of a batch's keys (PeekMany).
type Peeked struct {
	e   record.Entry
	ok  bool
	err error
}

// PeekChunk is the most keys PeekMany reads under one hold of the view's
// lock (a batch looks its keys up in chunks of it).
const PeekChunk = 64

// PeekMany reads the entries of ks (a range of a batch's keys) from the
// view as it is (after RefreshView), PeekChunk keys per hold of its lock,
// into out (as long as ks); LookupPeeked then serves each.
func (c *Fn) PeekMany(ks []*CallKey, out []Peeked) {
	var (
		hs    [PeekChunk]record.KeyHash
		es    [PeekChunk]record.Entry
		found [PeekChunk]bool
	)
	for lo := 0; lo < len(ks); lo += len(hs) {
		n := min(len(hs), len(ks)-lo)
		for i := range n {
			hs[i] = ks[lo+i].Hash
		}
		err := c.m.PeekMany(hs[:n], es[:n], found[:n])
		for i := range n {
			out[lo+i] = Peeked{e: es[i], ok: found[i] && err == nil, err: err}
		}
	}
}

// LookupPeeked is LookupCached with the entry PeekMany read for k. The use
// a hit records is appended to uses, for RecordUses.
func (c *Fn) LookupPeeked(ctx context.Context, k *CallKey, p *Peeked, dst Sink, uses *Uses) Found {
	return c.lookupEntry(ctx, k, dst, p.e, p.ok, p.err, uses)
}

// Current returns the Time of k's stored entry (0: none), which a
// replacement (ModeRefresh) must be stamped after: read fresh, or in the
// view as it is with cached.
func (c *Fn) Current(k *CallKey, cached bool) int64 {
	get := c.m.Lookup
	if cached {
		get = c.m.Peek
	}
	if e, ok, _ := get(k.Hash); ok {
		return e.Time
	}
	return 0
}
