package keying

import (
	"encoding/hex"
	"io"
	"reflect"

	"github.com/zeebo/blake3"
)

// KeyHasher is implemented by a type that says how it is keyed (permacache's
// __permacache_hash__): its key is the canonical encoding of the value
// CacheKey returns, which may be any keyable value (a string, a struct of the
// fields that matter, a [32]byte digest the type keeps up to date, ...).
// CacheKey takes precedence over every other rule for the type. It must be
// deterministic; an error or a panic becomes an *Error naming the path.
type KeyHasher interface {
	CacheKey() (any, error)
}

// marshal returns the canonical encoding of v (see the package doc).
func marshal(v any) ([]byte, error) {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.root(v); err != nil {
		return nil, err
	}
	return append([]byte(nil), e.buf...), nil
}

// marshalAs returns the canonical encoding of x as a value of type t, which
// x has or, behind pointers, t points to (a DropIfEqual value converted to its
// argument's type): like marshal, except that a value of an interface type
// is keyed as held in that interface (R1).
func marshalAs(x any, t reflect.Type) ([]byte, error) {
	for x != nil && t.Kind() == reflect.Pointer && reflect.TypeOf(x) != t {
		t = t.Elem()
	}
	if x == nil || t.Kind() != reflect.Interface {
		return marshal(x)
	}
	e := getEncoder()
	defer putEncoder(e)
	rv := reflect.ValueOf(x)
	if err := finish(e.dynamic(rv), rootName(rv.Type())); err != nil {
		return nil, err
	}
	return append([]byte(nil), e.buf...), nil
}

// encodeTo writes the canonical encoding of v to w, the same bytes Marshal
// returns. Small items are batched; large strings, byte slices and numeric
// slices are written straight from the value's memory, so the encoding is
// never held whole. On error, w may have received a prefix of the encoding.
func encodeTo(w io.Writer, v any) error {
	e := getEncoder()
	defer putEncoder(e)
	e.w = w
	if err := e.root(v); err != nil {
		return err
	}
	return e.flush()
}

// sumOf returns the BLAKE3-256 digest of the canonical encoding of v. The
// encoding is streamed into the hasher: large values are never copied whole.
func sumOf(v any) ([32]byte, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return blake3.Sum256([]byte{cborNull}), nil
	}
	sum, err := sumValue(rv, infoOf(rv.Type()), 0, false)
	return sum, finish(err, rootName(rv.Type()))
}

// StableHash returns sumOf(v) as 64 lowercase hex characters. It is the same on
// every OS and architecture and in every pcache version with this KeyFormat.
func StableHash(v any) (string, error) {
	sum, err := sumOf(v)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum[:]), nil
}

// root encodes the top-level value v, turning walk errors into *Error.
func (e *encoder) root(v any) error {
	if v == nil {
		e.buf = append(e.buf, cborNull)
		return nil
	}
	rv := reflect.ValueOf(v)
	return finish(e.value(rv, infoOf(rv.Type())), rootName(rv.Type()))
}

// sumValue hashes the encoding of v: in memory while it is small, streamed
// into a pooled hasher once it passes flushSize.
func sumValue(v reflect.Value, ti *typeInfo, depth int, instant bool) (sum [32]byte, err error) {
	e := getEncoder()
	defer putEncoder(e)
	e.limit, e.spill, e.depth, e.instant = flushSize, &e.lh, depth, instant
	if err := e.value(v, ti); err != nil {
		return sum, err
	}
	return e.sum()
}

// Canonical returns the canonical encoding of v (see the package doc): what
// package keying's Encode returns.
func Canonical(v any) ([]byte, error) { return marshal(v) }
