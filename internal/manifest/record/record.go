// Package record is the wire format of manifest files: the Entry a record
// holds, its canonical CBOR encoding, the frame around it and file headers.
// It decodes hostile bytes strictly, never panics, and bounds what it allocates by what it reads.
//
// # Records
//
// A record's payload is the Entry encoded as a deterministic CBOR map
// (RFC 8949 §4.2.1: shortest heads, definite lengths, keys in bytewise
// order) with one-letter text keys, zero values left out:
//
//	c codec · d tombstone · f out files · h entry key hash · i inline
//	result · k key · r result ID · s size · t time (unix ns) · u last use
//	(unix ns) · y result-type fingerprint · z compressed (on a remote)
//
// an out file being {a arg · m mode · o object · p paths · s size} and a
// path {p path · s size · t mtime ns}. h and t are always present. Files of
// format version 1 hold records without u and y; version 2 added them (y is
// present in every entry written since, u in touch records); version 3
// added i, and version 4 z, both written only in segments that travel to
// a remote. A payload is
// framed as the CBOR array [payload, crc] where crc is the CRC-32C of the
// payload (frame.go).
//
// # Resolution
//
// One key may have records in several files. Newer decides which wins: the
// greater Time; on equal Times, the bytewise greater canonical encoding of
// the entry without its last-use time, inlined result and z; and between
// records that differ only in those, the later use. The rule depends only on the records, never on
// which file holds them, so every machine resolves a key alike. A record
// whose key hash is ForgetAll is a function-wide tombstone: every record of
// the function with a Time not after its Time is dead. One whose key hash
// is ForgetType(y), with y as its Type, is the same for the records of
// result type y, and ForgetUntyped for those of no recorded type.
package record

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/keying"
)

// Entry is one manifest record: what the cached function returned for one
// call, or a tombstone saying the key was forgotten.
//
// Slices in an Entry returned by a Manifest may be shared with its
// in-memory view: treat them as read-only.
type Entry struct {
	KeyHash KeyHash            // the entry's key: BLAKE3-256 of the call's key and result type (the caller's)
	Key     []byte             // canonical key bytes; optional (callers omit large keys)
	Time    int64              // unix nanoseconds when the record was written; Append fills in zero
	Deleted bool               // tombstone: the key is absent if this record wins
	Result  cas.ID             // result object ID; zero in tombstones
	Size    int64              // result size in bytes
	Codec   string             // result codec name
	Outs    []OutFile          // out-file records
	Used    int64              // last use known to the writer (unix ns); 0: Time
	Type    keying.Fingerprint // result-type fingerprint; zero in records written before fingerprints
	// Inline is the result object's bytes (ID Result, Size bytes), carried
	// by records in the segments a remote shares for small results, so
	// that a small remote hit needs no download of its own. Local files
	// never hold it (Manifest.Append drops it); a reader checks it against
	// Result before it uses it.
	Inline []byte
	// Zstd says that an object of the entry may be stored compressed on
	// the remote (objects/<id>.zst): a fetch asks for that key first.
	// Only segments that travel to a remote carry it (Manifest.Append
	// drops it), and a segment holding it has format ZstdVersion.
	Zstd bool
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

// Object is one object an entry names: its result, or an out file's
// contents.
type Object struct {
	ID   [32]byte
	Size int64
}

// Objects returns the objects e names: its result first, then each out
// file's contents, in order.
func (e *Entry) Objects() []Object {
	out := make([]Object, 0, 1+len(e.Outs))
	out = append(out, Object{ID: e.Result, Size: e.Size})
	for _, o := range e.Outs {
		out = append(out, Object{ID: o.Object, Size: o.Size})
	}
	return out
}

// LastUse returns the last use the entry records: Used, else Time.
func (e *Entry) LastUse() int64 { return max(e.Used, e.Time) }

// KeyHash is an entry's key: the BLAKE3-256 of a call's canonical key and
// its result type (how it is computed is the caller's).
type KeyHash [32]byte

// ForgetAll is the key hash of a function-wide tombstone.
var ForgetAll = KeyHash(blake3.Sum256([]byte("pcache: every entry of this function written up to this record's time is forgotten")))

// ForgetUntyped is the key hash of the tombstone that comes with every
// tombstone of one result type (ForgetType): entries that recorded no
// result type (Type zero, written before entries did) written up to its
// time are forgotten too, since no reader can tell they are of another.
var ForgetUntyped = KeyHash(blake3.Sum256([]byte("pcache: every entry of this function of no recorded result type written up to this record's time is forgotten")))

// ForgetType returns the key hash of the tombstone that forgets every entry
// of the function of result type t (Entry.Type) written up to its time; the
// tombstone carries t as its Type, so a reader tells it from a tombstone of
// one key.
func ForgetType(t keying.Fingerprint) KeyHash {
	h := blake3.New()
	h.Write([]byte("pcache: every entry of this function of this result type written up to this record's time is forgotten\x00"))
	h.Write(t[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ForgetTypes returns the tombstones that forget every entry of the
// function of result types ts (and of no recorded type); without ts, the
// function-wide tombstone that forgets every entry.
func ForgetTypes(ts ...keying.Fingerprint) []Entry {
	if len(ts) == 0 {
		return []Entry{{KeyHash: ForgetAll, Deleted: true}}
	}
	out := make([]Entry, 0, len(ts)+1)
	for _, t := range ts {
		out = append(out, Entry{KeyHash: ForgetType(t), Type: t, Deleted: true})
	}
	return append(out, Entry{KeyHash: ForgetUntyped, Deleted: true})
}

// IsForget reports whether e is a tombstone of many entries: of every entry
// of the function, of one result type, or of no recorded type.
func IsForget(e *Entry) bool {
	if !e.Deleted {
		return false
	}
	if e.KeyHash == ForgetAll || e.KeyHash == ForgetUntyped {
		return true
	}
	return e.Type != [32]byte{} && e.KeyHash == ForgetType(e.Type)
}

// The wire types fix the CBOR form of a record. They exist separately from
// Entry so that 32-byte hashes decode strictly (exactly 32 bytes; cbor/v2
// would silently pad or truncate a byte string decoded into a Go array).
type wireEntry struct {
	KeyHash hash32  `cbor:"h"`
	Key     []byte  `cbor:"k,omitempty"`
	Time    int64   `cbor:"t"`
	Deleted bool    `cbor:"d,omitempty"`
	Result  hash32  `cbor:"r,omitzero"`
	Size    int64   `cbor:"s,omitempty"`
	Codec   string  `cbor:"c,omitempty"`
	Outs    outList `cbor:"f,omitempty"`
	Used    int64   `cbor:"u,omitempty"`
	Type    hash32  `cbor:"y,omitzero"`
	Inline  []byte  `cbor:"i,omitempty"`
	Zstd    bool    `cbor:"z,omitempty"`
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
	major, n, _, _, err := ReadHead(b)
	if err != nil || major != MajorArray {
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
	return appendHash(make([]byte, 0, 34), (*[32]byte)(&h)), nil
}

// MaxRecord bounds one encoded record (payload). Larger Encodes fail with
// ErrTooLarge; a larger declared length in a file is damage.
const MaxRecord = 4 << 20

var (
	// encMode is RFC 8949 core deterministic encoding: sorted map keys,
	// shortest integers, no indefinite lengths.
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
		SimpleValues:      onlyNamedSimpleValues(),
	}
	if decMode, err = opts.DecMode(); err != nil {
		panic(err)
	}
	opts.ExtraReturnErrors = cbor.ExtraDecErrorNone
	if headerDecMode, err = opts.DecMode(); err != nil {
		panic(err)
	}
}

// onlyNamedSimpleValues refuses the CBOR simple values no pcache writes
// (all but false, true, null and undefined). The decoder would otherwise
// read one into an integer field: a damaged header whose version byte
// became 0xe1 would read as version 1, a good file.
func onlyNamedSimpleValues() *cbor.SimpleValueRegistry {
	var opts []func(*cbor.SimpleValueRegistry) error
	for v := range 256 {
		if v < 20 || v > 31 {
			opts = append(opts, cbor.WithRejectedSimpleValue(cbor.SimpleValue(v)))
		}
	}
	r, err := cbor.NewSimpleValueRegistryFromDefaults(opts...)
	if err != nil {
		panic(err)
	}
	return r
}

var (
	// ErrBad is wrapped by every error Decode returns.
	ErrBad = errors.New("manifest: bad record")
	// ErrTooLarge is returned by Encode for an entry whose encoding exceeds
	// MaxRecord; leave Key out of large entries.
	ErrTooLarge = errors.New("manifest: record too large")
)

// Decode decodes one record payload strictly: no duplicate keys, unknown
// fields, tags or indefinite lengths, nesting at most 16 deep, arrays of at
// most 1024 elements, hashes of exactly 32 bytes, sizes not negative, and a
// KeyHash present. It never panics, and allocates at most a small multiple
// of len(b) (declared lengths are checked against the bytes there before
// anything is allocated for them). The common record (canonical, no out
// files) takes a hand-written path that gives the same Entry as the
// reflective decoder (FuzzFastDecode checks this); Key is always a copy,
// never an alias of b.
func Decode(b []byte, e *Entry) error {
	if len(b) > MaxRecord {
		return fmt.Errorf("%w: %d bytes exceeds the %d-byte limit", ErrBad, len(b), MaxRecord)
	}
	if fastDecode(b, e) {
		return nil
	}
	return decodeStrict(b, e)
}

// wirePool recycles decoding targets: the decoder needs a heap object, and
// a lookup decodes one record per segment hit.
var wirePool = sync.Pool{New: func() any { return new(wireEntry) }}

// decodeStrict is Decode's reference decoder, through cbor/v2.
func decodeStrict(b []byte, e *Entry) error {
	w := wirePool.Get().(*wireEntry)
	defer wirePool.Put(w)
	*w = wireEntry{}
	if err := decMode.Unmarshal(b, w); err != nil {
		return fmt.Errorf("%w: %v", ErrBad, err)
	}
	if w.KeyHash.IsZero() {
		return fmt.Errorf("%w: missing key hash", ErrBad)
	}
	if w.Size < 0 {
		return fmt.Errorf("%w: negative result size %d", ErrBad, w.Size)
	}
	for _, o := range w.Outs {
		if o.Size < 0 {
			return fmt.Errorf("%w: out file %q: negative size %d", ErrBad, o.Arg, o.Size)
		}
	}
	if w.Inline != nil && (w.Deleted || int64(len(w.Inline)) != w.Size) {
		return fmt.Errorf("%w: an inline result of %d bytes in a record of size %d", ErrBad, len(w.Inline), w.Size)
	}
	*e = Entry{
		KeyHash: KeyHash(w.KeyHash),
		Key:     w.Key,
		Time:    w.Time,
		Deleted: w.Deleted,
		Result:  cas.ID(w.Result),
		Size:    w.Size,
		Codec:   w.Codec,
		Used:    w.Used,
		Type:    keying.Fingerprint(w.Type),
		Inline:  w.Inline,
		Zstd:    w.Zstd,
	}
	if len(w.Outs) > 0 {
		e.Outs = make([]OutFile, len(w.Outs))
		for i, o := range w.Outs {
			e.Outs[i] = OutFile{Arg: o.Arg, Object: cas.ID(o.Object), Size: o.Size, Mode: o.Mode, Paths: []PathRecord(o.Paths)}
		}
	}
	return nil
}

// Encode returns the canonical encoding of e.
func Encode(e *Entry) ([]byte, error) {
	b, ok := fastEncode(e)
	if !ok {
		var err error
		if b, err = encodeReflect(e); err != nil {
			return nil, fmt.Errorf("manifest: encode entry %s: %w", Short(&e.KeyHash), err)
		}
	}
	if len(b) > MaxRecord {
		return nil, fmt.Errorf("%w: entry %s encodes to %d bytes (limit %d)", ErrTooLarge, Short(&e.KeyHash), len(b), MaxRecord)
	}
	return b, nil
}

// encodeReflect is Encode through the wire types and fxamacker/cbor: the
// definition of a record's form, which fastEncode reproduces for entries
// without out files.
func encodeReflect(e *Entry) ([]byte, error) {
	w := wireEntry{
		KeyHash: hash32(e.KeyHash),
		Key:     e.Key,
		Time:    e.Time,
		Deleted: e.Deleted,
		Result:  hash32(e.Result),
		Size:    e.Size,
		Codec:   e.Codec,
		Used:    e.Used,
		Type:    hash32(e.Type),
		Inline:  e.Inline,
		Zstd:    e.Zstd,
	}
	if len(e.Outs) > 0 {
		w.Outs = make([]wireOut, len(e.Outs))
		for i, o := range e.Outs {
			w.Outs[i] = wireOut{Arg: o.Arg, Object: hash32(o.Object), Size: o.Size, Mode: o.Mode, Paths: pathList(o.Paths)}
		}
	}
	return encMode.Marshal(&w)
}

// Canonical reports whether payload is exactly the canonical encoding of e
// (which it decoded to).
func Canonical(payload []byte, e *Entry) error {
	c, err := Encode(e)
	if err != nil {
		return err
	}
	if !bytes.Equal(c, payload) {
		return errors.New("record is not in canonical CBOR form")
	}
	return nil
}

// Newer reports whether a beats b under the resolution rule (see the package
// documentation). The tie-break re-encodes both entries rather than
// comparing raw payloads so the outcome cannot depend on which file (or
// which writer's byte form) a record came from. Identical records are
// equal; either may be kept.
func Newer(a, b *Entry) bool {
	if a.Time != b.Time {
		return a.Time > b.Time
	}
	ua, ub := a.Used, b.Used
	x, y := *a, *b
	x.Used, y.Used = 0, 0
	x.Inline, y.Inline = nil, nil // the same result, carried or not
	x.Zstd, y.Zstd = false, false // the same result, however a remote stores it
	ca, errA := Encode(&x)
	cb, errB := Encode(&y)
	if errA != nil || errB != nil { // only for absurd sizes
		return ua > ub
	}
	if c := bytes.Compare(ca, cb); c != 0 {
		return c > 0
	}
	return ua > ub
}

// Short abbreviates a key hash for messages. (It copies, so that a message
// does not make the hash's owner escape to the heap.)
func Short(h *KeyHash) string { return hex.EncodeToString(h[:8]) }
