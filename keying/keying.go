// Package keying turns Go values into canonical, platform-independent cache
// keys: one logical value, the same bytes on every OS, CPU and pcache version.
//
// Encode returns a value's canonical encoding: one CBOR data item (RFC
// 8949) in core deterministic encoding, built by rules that key two values
// alike exactly when a function cannot tell them apart (map order and
// integer widths do not matter; the dynamic type behind an interface, nil
// and empty, -0 and +0 and a time's zone do). StableHash is its BLAKE3-256
// in hex. Render shows key bytes to people. A type that implements
// KeyHasher says itself how it is keyed. Values that cannot be keyed
// (funcs, channels, unsafe pointers, cycles) are errors wrapping
// ErrUnkeyable that name the path to the value.
//
// The encoding is specified, precisely enough to re-implement it, in the
// documentation of the package that implements it (go doc
// github.com/pcache/pcache/internal/keying), and pinned by its golden
// vectors (internal/keying/testdata). KeyFormat changes whenever the bytes
// of any value would.
package keying

import "github.com/pcache/pcache/internal/keying"

// KeyFormat is the version of the canonical encoding this package produces.
const KeyFormat = keying.KeyFormat

// ErrUnkeyable is wrapped by the error of a value that cannot be keyed.
var ErrUnkeyable = keying.ErrUnkeyable

// KeyHasher is implemented by types that say how they are keyed
// (permacache's __permacache_hash__): the key of such a value is the
// canonical encoding of what CacheKey returns, which may be any keyable
// value (a string, a struct of the fields that matter, a digest the type
// keeps up to date). It must be deterministic.
type KeyHasher interface {
	CacheKey() (any, error)
}

var _ keying.KeyHasher = KeyHasher(nil) // the same method set

// Encode returns the canonical encoding of v.
func Encode(v any) ([]byte, error) { return keying.Canonical(v) }

// StableHash returns the BLAKE3-256 of the canonical encoding of v, in
// lowercase hex: the same on every OS, architecture and pcache version of
// this KeyFormat.
func StableHash(v any) (string, error) { return keying.StableHash(v) }

// Render shows canonical key bytes in CBOR diagnostic notation (RFC 8949
// §8), for people: byte strings as h'hex', times as 1001({1: s, -9: ns}).
func Render(key []byte) (string, error) { return keying.Diagnose(key) }
