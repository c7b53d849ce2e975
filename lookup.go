package pcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/outfile"
)

// found is what a lookup found.
type found struct {
	e    record.Entry // the entry served (on a hit)
	hit  bool
	bad  bool  // an entry was found unusable (the caller counts Stats.Corrupt once per call)
	prev int64 // Time of an unusable entry of the key (a replacement must be stamped after it)
}

// lookup finds k's entry (refreshing the manifest view if it may be stale)
// and returns its result bytes, verified, with every out file restored to
// its requested path. decode turns the bytes into the caller's value and
// fails if they do not decode as the result type. Anything wrong with the
// entry or its objects is a miss, never an error: storage trouble degrades
// to computing.
func (c *core) lookup(ctx context.Context, k *callKey, dst sink) found {
	return c.lookupIn(ctx, k, dst, c.m.Lookup)
}

// lookupIn is lookup with the manifest lookup to use (Lookup, or Peek for a
// batch that refreshed the view once for all its elements).
func (c *core) lookupIn(ctx context.Context, k *callKey, dst sink, get func(record.KeyHash) (record.Entry, bool, error)) found {
	e, ok, err := get(k.hash)
	if err != nil {
		c.warn("lookup failed; computing", k, err)
	}
	if ok && c.expired(&e) {
		return found{} // computed again, and stored over it
	}
	if ok {
		switch c.serve(ctx, k, &e, dst, false) {
		case served:
			if u := c.remoteUsed; u != nil && !u.Load() {
				u.Store(true)
			}
			return found{hit: true, e: e}
		case unusable:
			return found{bad: true, prev: e.Time}
		}
		return found{prev: e.Time}
	}
	// An entry written before entries recorded their result type is served
	// only if its bytes are exactly the encoding of a value of the result
	// type; it is then re-recorded under the new key.
	if e, ok := c.legacyEntry(k); ok && !c.expired(&e) {
		if c.serve(ctx, k, &e, dst, true) == served {
			return found{hit: true, e: e}
		}
	}
	return found{}
}

// legacyEntry returns the entry of k's arguments written before entries
// recorded their result type (keyed by the arguments alone), with this
// function's codec.
func (c *core) legacyEntry(k *callKey) (record.Entry, bool) {
	e, ok, _ := c.m.Peek(k.legacy)
	return e, ok && e.Type == ([32]byte{}) && e.Codec == c.codec.Name()
}

// legacyFits reports whether legacy entry e's bytes are exactly the
// encoding of a value of the result type (decode, then encode again, gives
// the same bytes): then nothing was dropped, zero-filled or converted.
func (c *core) legacyFits(e *record.Entry, dst sink) bool {
	data, err := c.s.cas.Get(e.Result, e.Size)
	if err == nil {
		data, err = c.entryData(e, data)
	}
	return err == nil && dst.decode(data) == nil && c.roundTrips(data, dst)
}

// outcome is what serve made of an entry.
type outcome int

const (
	served   outcome = iota
	unusable         // its object is missing or corrupt, or it does not decode
	passed           // not for this call (another codec, a legacy entry of another type, out files that cannot be restored)
)

// serve reads and decodes entry e for k and restores its out files. legacy
// entries must also round-trip; served ones are re-recorded under k.hash.
func (c *core) serve(ctx context.Context, k *callKey, e *record.Entry, dst sink, legacy bool) outcome {
	if oc, why := c.decodeEntry(e, dst, legacy); oc != served {
		c.missed(k, e, why)
		return oc
	}
	if len(k.outs) > 0 {
		switch c.restoreOuts(ctx, k, e) {
		case unusable:
			return unusable
		case passed:
			return passed
		}
	}
	switch {
	case k.noWrite:
	case legacy:
		c.upgrade(k, e)
	default:
		c.touch(e)
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
func (c *core) decodeEntry(e *record.Entry, dst sink, legacy bool) (outcome, reason) {
	if !c.readsCodec(e.Codec) {
		return passed, reason{why: fmt.Sprintf("an entry exists, written with codec %q; this function uses %q", e.Codec, c.codec.Name())}
	}
	if !legacy && e.Size >= directFrom && e.Codec == c.codec.Name() {
		if oc, r, ok := c.directEntry(e, dst); ok {
			return oc, r
		}
	}
	data, err := c.s.cas.Get(e.Result, e.Size)
	if err != nil {
		return unusable, readFailed(err)
	}
	if data, err = c.entryData(e, data); err == nil {
		err = dst.decode(data)
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
func (c *core) missed(k *callKey, e *record.Entry, r reason) {
	if errors.Is(r.err, cas.ErrCorrupt) && !c.s.readOnly && c.s.cas.Verify(e.Result) != nil {
		// The object may be fine and the entry's recorded size wrong (a
		// damaged or forged record): only an object that fails its own hash
		// is moved aside, so entries sharing a good object keep hitting.
		c.s.cas.Quarantine(e.Result) // best effort: another caller may have moved it already
	}
	if r.log != "" {
		c.warn(r.log, k, r.err)
	}
}

// roundTrips reports whether the value dst decoded from data encodes back
// to exactly data.
func (c *core) roundTrips(data []byte, dst sink) bool {
	b, err := dst.reencode()
	return err == nil && c.sameResult(b, data)
}

// sameResult reports whether two encodings of results are of the same
// value: equal bytes, and for the raw codec also both nil or both not (a
// nil []byte and an empty one are different results).
func (c *core) sameResult(a, b []byte) bool {
	if n, ok := c.codec.(numericCodec); ok {
		return n.sameEncoding(a, b)
	}
	if _, raw := c.codec.(rawCodec); raw && (a == nil) != (b == nil) {
		return false
	}
	return bytes.Equal(a, b)
}

// entryCodec is the codec name recorded with an entry whose encoded result
// is data: the codec's, or rawNil for a nil []byte result of the raw codec.
func (c *core) entryCodec(data []byte) string {
	if _, raw := c.codec.(rawCodec); raw && data == nil {
		return rawNil
	}
	return c.codec.Name()
}

// readsCodec reports whether an entry recorded with codec name is this
// function's codec's to decode.
func (c *core) readsCodec(name string) bool {
	if name == c.codec.Name() {
		return true
	}
	_, raw := c.codec.(rawCodec)
	return raw && name == rawNil
}

// entryData returns the bytes to decode for entry e, whose result object
// holds data: for the raw codec, nil for an entry recorded as a nil result
// (whose object must be empty) and never nil otherwise.
func (c *core) entryData(e *record.Entry, data []byte) ([]byte, error) {
	if _, raw := c.codec.(rawCodec); !raw {
		return data, nil
	}
	if e.Codec == rawNil {
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

// sink decodes stored bytes into a value of a function's result type.
type sink interface {
	decode([]byte) error
	decodeDirect(size int64, read func([]byte) error) (handled bool, err error)
	reencode() ([]byte, error)
}

// directDecoder is a codec that can read a stored result straight into
// the result's own memory (numericCodec).
type directDecoder interface {
	decodeDirect(size int64, read func([]byte) error, v any) (handled bool, err error)
}

// directFrom is the size from which a result whose codec reads results
// directly is read that way: once, into the result's memory, verified,
// instead of into a buffer that is then copied.
const directFrom = 1 << 20

// directEntry decodes entry e's result by reading its object straight into
// dst's memory, when dst's codec does that; handled is false when it was
// not done (then the bytes are read whole, as for any result).
func (c *core) directEntry(e *record.Entry, dst sink) (oc outcome, r reason, handled bool) {
	handled, err := dst.decodeDirect(e.Size, func(buf []byte) error { return c.s.cas.GetInto(e.Result, buf) })
	if !handled {
		return 0, reason{}, false
	}
	if err != nil {
		return unusable, readFailed(err), true
	}
	return served, reason{}, true
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

// value is the sink of a result type R.
type value[R any] struct {
	codec    Codec
	v        R
	raw      []byte // the bytes v was decoded from (nil when read directly)
	size     int64  // their length
	streamed bool   // v was read straight into its memory (decodeDirect): raw is nil
}

func (s *value[R]) decode(b []byte) error {
	var r R
	if err := s.codec.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("decode cached result as %T: %w", r, err)
	}
	s.v, s.raw, s.size, s.streamed = r, b, int64(len(b)), false
	return nil
}

// decodeDirect decodes a stored result of size bytes that read fills in,
// verified, straight into the result's memory, if the codec reads results
// that way (a large numeric slice); handled is false when it does not.
func (s *value[R]) decodeDirect(size int64, read func([]byte) error) (handled bool, err error) {
	dd, ok := s.codec.(directDecoder)
	if !ok {
		return false, nil
	}
	var v R
	if handled, err = dd.decodeDirect(size, read, &v); handled && err == nil {
		s.v, s.raw, s.size, s.streamed = v, nil, size, true
	}
	return handled, err
}

// stored returns the bytes v was decoded from (encoded again after a
// direct read: the numeric encoding is exact).
func (s *value[R]) stored() []byte {
	if s.streamed {
		b, _ := s.codec.Marshal(s.v)
		return b
	}
	return s.raw
}

func (s *value[R]) reencode() ([]byte, error) { return s.codec.Marshal(s.v) }

// restoreOuts makes every requested out path hold the entry's recorded
// contents. When that cannot be done (the recorded content is gone: the
// entry is unusable; the path cannot be written, or the entry predates the
// out file: passed) the call is computed, as it would be without a cache.
func (c *core) restoreOuts(ctx context.Context, k *callKey, e *record.Entry) outcome {
	if !c.s.readOnly {
		if _, err := c.s.gate.Enter(ctx); err != nil {
			c.warn("restoring out files: waiting for gc; computing", k, err)
			return passed
		}
		defer c.s.gate.Leave()
	}
	// A copy: the entry's records (their paths included) may be shared with
	// the manifest's view, and Restore updates the paths.
	recs := slices.Clone(e.Outs)
	for i := range recs {
		recs[i].Paths = slices.Clone(recs[i].Paths)
	}
	changed := false
	for _, o := range k.outs {
		i := outIndex(recs, o.Arg)
		if i < 0 {
			return passed // stored before this out file was declared
		}
		c.s.outPaths.add(o.Path)
		rec, ch, err := outfile.Restore(c.s.cas, recs[i], o.Path, c.s.outPaths.has)
		if err != nil {
			if errors.Is(err, outfile.ErrUnavailable) {
				return unusable
			}
			c.warn(fmt.Sprintf("restoring out file %q to %s failed; computing", o.Arg, o.Path), k, err)
			return passed
		}
		recs[i], changed = rec, changed || ch
	}
	if changed && !k.noWrite {
		// Record the new paths so a later hit can leave them untouched or
		// recover from them: the same entry (same Time), used now. Losing
		// this record costs a re-hash, nothing else.
		up := *e
		up.Outs = recs
		up.Used = c.s.opts.now().UnixNano()
		c.m.Append(up)
	}
	return served
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
// use (objects in packs have no mtime of their own).
func (c *core) touch(e *record.Entry) {
	if c.s.readOnly {
		return
	}
	now := c.s.opts.now().UnixNano()
	if now-e.LastUse() < int64(cas.TouchQuantum) {
		return
	}
	t := *e
	t.Used = now
	if c.m.Append(t) == nil && c.s.remote != nil { // best effort
		// The remote's gc evicts by last use too. A use record does not
		// check the remote for its objects (that would cost a request per
		// object per hour): if they never got there, the record is a miss
		// on other machines, which compute and publish them.
		c.s.remote.PublishUse(c.name, t)
	}
}

// upgrade records a legacy entry that was served under the key it has now.
func (c *core) upgrade(k *callKey, e *record.Entry) {
	if c.s.readOnly {
		return
	}
	if _, err := c.s.gate.Enter(context.Background()); err != nil {
		return
	}
	defer c.s.gate.Leave()
	up := []record.Entry{*e}
	up[0].KeyHash, up[0].Type, up[0].Time, up[0].Used = k.hash, c.fp, 0, 0
	if len(up[0].Key) == 0 {
		up[0].Key = k.bytes
	}
	if c.m.Append(up...) == nil { // best effort: the legacy entry keeps serving
		c.publish(up)
	}
}

// contains reports whether k has a usable entry, without computing,
// restoring out files or counting.
func (c *core) contains(k *callKey, dst sink) (bool, error) {
	e, ok, err := c.m.Lookup(k.hash)
	if err != nil {
		return false, errorf("%s: lookup: %w", c.name, err)
	}
	if ok && c.expired(&e) {
		return false, nil
	}
	if ok && c.readsCodec(e.Codec) {
		return c.s.cas.Has(e.Result)
	}
	if e, ok := c.legacyEntry(k); ok && !c.expired(&e) {
		return c.legacyFits(&e, dst), nil
	}
	return false, nil
}

// outsDiffer names the first out file of k whose contents (as the
// function just wrote them) differ from what entry e recorded, or "".
func (c *core) outsDiffer(k *callKey, e *record.Entry) string {
	for _, o := range k.outs {
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

// callKey is the key of one call of one function.
type callKey struct {
	hash   record.KeyHash // the entry's key: the arguments' key and the result type (entryHash)
	legacy record.KeyHash // the arguments' key alone: how entries were keyed before result types were
	bytes  []byte         // the arguments' canonical key (nil when over keying.MaxKeyBytes)
	outs   []keying.OutArg

	noWrite bool // the call writes nothing, not even a use: ModeReadOnly, or a read-only Store (policy.write)
}

// entryDomain separates entry keys from every other BLAKE3 use.
const entryDomain = "pcache entry key v2\x00"

// resultKey is the part of every entry key of a function that comes from
// its result: BLAKE3-256 of
//
//	"pcache entry key v2" 0x00 ‖ codec name ‖ 0x00 ‖ result-type fingerprint (32 bytes)
//
// computed once per Wrap. The fingerprint is keying.ResultFingerprint of the
// result type.
func resultKey(codec string, fp keying.Fingerprint) [32]byte {
	h := blake3.New()
	h.WriteString(entryDomain)
	h.WriteString(codec)
	h.Write([]byte{0})
	h.Write(fp[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// entryHash is the key of an entry: the argument key hash (keying's
// Plan.Key) XOR the function's resultKey. Two functions under one name whose
// result types (or codecs) differ keep separate entries, and an entry is
// never decoded into another type. (The XOR of a hash output with a fixed
// value is as collision-resistant as the hash, and costs nothing per call.)
func entryHash(args, result [32]byte) record.KeyHash {
	for i := range args {
		args[i] ^= result[i]
	}
	return args
}

// key keys args. With withOuts, out-file paths are made absolute (an empty
// one is an error); without, they are dropped.
func (c *core) key(args any, withOuts bool) (callKey, error) {
	k, err := c.plan.Key(c.version, args)
	if err != nil {
		return callKey{}, errorf("%s: %w", c.name, err)
	}
	ck := callKey{hash: entryHash(k.Hash, c.rkey), legacy: k.Hash, bytes: k.Bytes}
	if !withOuts {
		return ck, nil
	}
	for i, o := range k.Outs {
		p, err := outfile.Abs(o.Path)
		if err != nil {
			return callKey{}, errorf("%s: out file argument %q: %w", c.name, o.Arg, err)
		}
		k.Outs[i].Path = p
	}
	ck.outs = k.Outs
	return ck, nil
}
