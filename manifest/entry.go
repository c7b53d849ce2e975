package manifest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"

	"github.com/pcache/pcache/cas"
)

// Entry is one manifest record: what the cached function returned for one
// canonical key, or a tombstone saying the key was deleted.
//
// Slices in an Entry returned by Lookup or Iterate may be shared with the
// Manifest's in-memory view: treat them as read-only.
type Entry struct {
	KeyHash [32]byte  // BLAKE3-256 of the canonical key, computed by the caller
	Key     []byte    // canonical key bytes; optional (callers omit large keys)
	Time    int64     // unix nanoseconds when the record was written; Append fills in zero
	Deleted bool      // tombstone: the key is absent if this record wins
	Result  cas.ID    // result object; zero in tombstones
	Size    int64     // result size in bytes
	Codec   string    // result codec name; "" is the default (CBOR)
	Outs    []OutFile // out-file records
}

// OutFile records one out-file argument of a cached call.
type OutFile struct {
	Arg    string       // argument name
	Object cas.ID       // the file's contents in the object store
	Size   int64        // contents size in bytes
	Mode   uint32       // permission bits to restore
	Paths  []PathRecord // absolute paths it was written to, with what they held then
}

// PathRecord is one place an out file was written, with the mtime and size it
// had right after the write (so a hit can tell the file is untouched).
type PathRecord struct {
	Path    string `cbor:"p"`           // absolute path written
	MtimeNs int64  `cbor:"t,omitempty"` // its mtime (unix ns) after the write
	Size    int64  `cbor:"s,omitempty"` // its size after the write
}

// The wire types fix the CBOR form of a record: a map with one-letter text
// keys, zero values omitted. They exist separately from Entry so that 32-byte
// hashes decode strictly (exactly 32 bytes; cbor/v2 would silently pad or
// truncate a byte string decoded into a Go array).
type wireEntry struct {
	KeyHash hash32  `cbor:"h"`
	Key     []byte  `cbor:"k,omitempty"`
	Time    int64   `cbor:"t"`
	Deleted bool    `cbor:"d,omitempty"`
	Result  hash32  `cbor:"r,omitzero"`
	Size    int64   `cbor:"s,omitempty"`
	Codec   string  `cbor:"c,omitempty"`
	Outs    outList `cbor:"f,omitempty"`
}

type wireOut struct {
	Arg    string   `cbor:"a"`
	Object hash32   `cbor:"o"`
	Size   int64    `cbor:"s,omitempty"`
	Mode   uint32   `cbor:"m,omitempty"`
	Paths  pathList `cbor:"p,omitempty"`
}

// outList and pathList decode like plain slices once they have checked that
// the array's declared length fits in its bytes at the smallest size an
// element can have ("a" and "o" are always written, and an out file takes
// at least 40 bytes; a path record at least 4). So an array of empty maps,
// one byte each, cannot make the decoder allocate 100 bytes per input byte.
type (
	outList  []wireOut
	pathList []PathRecord
)

const (
	minOutFile    = 40 // a2 61 61 60 61 6f 58 20 <32 bytes>: {"a": "", "o": hash}
	minPathRecord = 4  // a1 61 70 60: {"p": ""}
)

func (l *outList) UnmarshalCBOR(b []byte) error {
	if err := checkArray(b, minOutFile); err != nil {
		return err
	}
	var s []wireOut
	err := decMode.Unmarshal(b, &s)
	*l = s
	return err
}

func (l *pathList) UnmarshalCBOR(b []byte) error {
	if err := checkArray(b, minPathRecord); err != nil {
		return err
	}
	var s []PathRecord
	err := decMode.Unmarshal(b, &s)
	*l = s
	return err
}

// checkArray checks that b is an array whose elements, at least minElem
// bytes each, fit in b.
func checkArray(b []byte, minElem int) error {
	major, n, _, _, err := readHead(b)
	if err != nil || major != majorArray {
		return errors.New("want an array")
	}
	if n > uint64(len(b)/minElem) {
		return fmt.Errorf("array of %d elements in %d bytes", n, len(b))
	}
	return nil
}

// hash32 is a [32]byte that encodes as a 32-byte CBOR byte string and
// refuses any other length when decoding.
type hash32 [32]byte

func (h hash32) IsZero() bool { return h == hash32{} }

func (h *hash32) UnmarshalCBOR(b []byte) error {
	if len(b) != 34 || b[0] != 0x58 || b[1] != 32 {
		return errors.New("want a 32-byte byte string")
	}
	copy(h[:], b[2:])
	return nil
}

// MarshalCBOR gives hash32 the same form it decodes from.
func (h hash32) MarshalCBOR() ([]byte, error) {
	b := make([]byte, 34)
	b[0], b[1] = 0x58, 32
	copy(b[2:], h[:])
	return b, nil
}

// maxRecord bounds one encoded record (payload). Larger Appends fail with
// ErrRecordTooLarge; a larger declared length in a file is damage.
const maxRecord = 4 << 20

var (
	// encMode is RFC 8949 core deterministic encoding: sorted map keys,
	// shortest integers, no indefinite lengths. Every record is written with
	// it, and Check compares each record with its re-encoding.
	encMode cbor.EncMode
	// decMode decodes records from files that may be damaged or hostile.
	decMode cbor.DecMode
	// headerDecMode decodes file headers: same limits, but unknown fields are
	// allowed so a header from a newer writer still yields its version.
	headerDecMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	opts := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   16,
		MaxArrayElements:  1024,
		MaxMapPairs:       64,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		NaN:               cbor.NaNDecodeForbidden,
		Inf:               cbor.InfDecodeForbidden,
	}
	if decMode, err = opts.DecMode(); err != nil {
		panic(err)
	}
	opts.ExtraReturnErrors = cbor.ExtraDecErrorNone
	if headerDecMode, err = opts.DecMode(); err != nil {
		panic(err)
	}
}

// ErrBadRecord is wrapped by every error DecodeEntry returns.
var ErrBadRecord = errors.New("manifest: bad record")

// ErrRecordTooLarge is returned by Append for an entry whose encoding exceeds
// the record size limit (4 MiB); leave Key out of large entries.
var ErrRecordTooLarge = errors.New("manifest: record too large")

// DecodeEntry decodes one record payload (the CBOR map of an Entry) strictly:
// no duplicate keys, unknown fields, tags or indefinite lengths, nesting at
// most 16 deep, arrays of at most 1024 elements, hashes of exactly 32 bytes,
// sizes not negative, and a KeyHash present. It never panics, and allocates at most a small
// multiple of len(b) (declared lengths are checked against the bytes there
// before anything is allocated for them).
func DecodeEntry(b []byte) (Entry, error) {
	var e Entry
	err := decodeEntryInto(b, &e)
	return e, err
}

// wirePool recycles decoding targets: the decoder needs a heap object, and
// Lookup decodes one record per segment hit.
var wirePool = sync.Pool{New: func() any { return new(wireEntry) }}

// decodeEntryInto decodes b into e; e is untouched on error. The common
// record (canonical, no out files) takes fastDecodeEntry, which avoids the
// reflective decoder; everything else takes decodeEntryStrict.
func decodeEntryInto(b []byte, e *Entry) error {
	if len(b) > maxRecord {
		return fmt.Errorf("%w: %d bytes exceeds the %d-byte limit", ErrBadRecord, len(b), maxRecord)
	}
	if fastDecodeEntry(b, e) {
		return nil
	}
	return decodeEntryStrict(b, e)
}

// decodeEntryStrict is DecodeEntry's reference decoder, through cbor/v2.
func decodeEntryStrict(b []byte, e *Entry) error {
	if len(b) > maxRecord {
		return fmt.Errorf("%w: %d bytes exceeds the %d-byte limit", ErrBadRecord, len(b), maxRecord)
	}
	w := wirePool.Get().(*wireEntry)
	defer wirePool.Put(w)
	*w = wireEntry{}
	if err := decMode.Unmarshal(b, w); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if w.KeyHash.IsZero() {
		return fmt.Errorf("%w: missing key hash", ErrBadRecord)
	}
	if w.Size < 0 {
		return fmt.Errorf("%w: negative result size %d", ErrBadRecord, w.Size)
	}
	for _, o := range w.Outs {
		if o.Size < 0 {
			return fmt.Errorf("%w: out file %q: negative size %d", ErrBadRecord, o.Arg, o.Size)
		}
	}
	*e = Entry{
		KeyHash: w.KeyHash,
		Key:     w.Key,
		Time:    w.Time,
		Deleted: w.Deleted,
		Result:  cas.ID(w.Result),
		Size:    w.Size,
		Codec:   w.Codec,
	}
	if len(w.Outs) > 0 {
		e.Outs = make([]OutFile, len(w.Outs))
		for i, o := range w.Outs {
			e.Outs[i] = OutFile{Arg: o.Arg, Object: cas.ID(o.Object), Size: o.Size, Mode: o.Mode, Paths: []PathRecord(o.Paths)}
		}
	}
	return nil
}

// encodeEntry returns the canonical encoding of e.
func encodeEntry(e *Entry) ([]byte, error) {
	w := wireEntry{
		KeyHash: e.KeyHash,
		Key:     e.Key,
		Time:    e.Time,
		Deleted: e.Deleted,
		Result:  hash32(e.Result),
		Size:    e.Size,
		Codec:   e.Codec,
	}
	if len(e.Outs) > 0 {
		w.Outs = make([]wireOut, len(e.Outs))
		for i, o := range e.Outs {
			w.Outs[i] = wireOut{Arg: o.Arg, Object: hash32(o.Object), Size: o.Size, Mode: o.Mode, Paths: pathList(o.Paths)}
		}
	}
	b, err := encMode.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("manifest: encode entry %s: %w", shortKey(&e.KeyHash), err)
	}
	if len(b) > maxRecord {
		return nil, fmt.Errorf("%w: entry %s encodes to %d bytes (limit %d)", ErrRecordTooLarge, shortKey(&e.KeyHash), len(b), maxRecord)
	}
	return b, nil
}

// rec is a decoded record with the payload bytes it came from, or a lazy
// one: only e.KeyHash is set until load decodes raw.
type rec struct {
	e    Entry
	raw  []byte
	lazy *segSource // the source to decode and report through, while lazy
	off  int64      // the record's offset in that source's file
}

// load decodes a lazy record; false (and reported) if it is damaged.
func (r *rec) load() bool {
	if r.lazy == nil {
		return true
	}
	return r.lazy.load(r)
}

// newer reports whether a beats b under the resolution rule: the greater Time
// wins; on equal Times the greater canonical encoding (bytewise) wins. The
// tie-break re-encodes both entries rather than comparing raw payloads so the
// outcome cannot depend on which file (or which writer's byte form) a record
// came from. Identical records are equal; either may be kept.
func newer(a, b *rec) bool {
	if a.e.Time != b.e.Time {
		return a.e.Time > b.e.Time
	}
	ca, errA := encodeEntry(&a.e)
	cb, errB := encodeEntry(&b.e)
	if errA != nil || errB != nil { // only for absurd sizes; fall back to the raw bytes
		return bytes.Compare(a.raw, b.raw) > 0
	}
	return bytes.Compare(ca, cb) > 0
}

// shortKey abbreviates a key hash for messages. (It copies, so that a
// message does not make the hash's owner escape to the heap.)
func shortKey(h *[32]byte) string { return hex.EncodeToString(h[:8]) }
