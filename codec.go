package pcache

import (
	"reflect"

	"github.com/pcache/pcache/internal/codec"
)

// Codec encodes and decodes results. Name is recorded with every entry; an
// entry written under another name is a miss, never a misdecoded value. A
// Codec that can tell at Wrap time whether it can store and decode back
// values of a result type has a method CheckType(reflect.Type) error; Wrap
// then refuses a type it rejects, before any work is done.
type Codec interface {
	Name() string
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// CBOR is the default result codec: deterministic CBOR (sorted maps, so equal
// results are stored once) with nanosecond times, decoding into a fresh value
// on every hit.
//
// It stores exported struct fields (named by their cbor or json tags),
// slices, arrays, maps, pointers, strings (any bytes: a string that is not
// valid UTF-8 comes back byte for byte), bools, integers, floats,
// time.Time (as RFC 3339 text with nanoseconds and the zone offset; the
// zone's name is not kept), big.Int and *big.Int (as a CBOR integer, or a
// bignum when it does not fit in 64 bits), and types with
// MarshalCBOR/UnmarshalCBOR or MarshalBinary/UnmarshalBinary methods. A nil
// slice or map comes back nil and an empty one empty. Wrap refuses result
// types holding a chan, func, complex number, uintptr or unsafe pointer, an
// interface other than any, big.Float or big.Rat (store their text, or use
// another codec), or an unexported struct field, naming the field.
//
// Inside a value of type any, what comes back is CBOR's generic form:
// unsigned integers as uint64, negative ones as int64 (big.Int beyond 64
// bits), floats as float64, text as string, byte strings as []byte, arrays
// as []any, maps whose keys are all text as map[string]any and other maps
// as map[any]any, and times as their RFC 3339 text. So a JSON document
// decoded into any (or map[string]any) comes back as encoding/json made it
// and encodes to the same JSON. A miss returns the same, since it returns
// the decoded copy of what it stored; give fields concrete types to get
// concrete values back.
var CBOR Codec = codec.CBOR{}

// defaultCodec picks the codec of a result type when the user chose none:
// raw bytes for []byte, a typed array for a slice of fixed-size numbers,
// CBOR for everything else.
func defaultCodec[R any]() Codec {
	if isBlob[R]() {
		return codec.Blob{}
	}
	return codec.For(reflect.TypeFor[R]())
}
