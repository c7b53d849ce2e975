package keying

import (
	"math"
	"unicode/utf8"
)

// CBOR major types (RFC 8949 §3.1), already shifted into the high 3 bits.
const (
	majUint   = 0 << 5
	majNegint = 1 << 5
	majBytes  = 2 << 5
	majText   = 3 << 5
	majArray  = 4 << 5
	majMap    = 5 << 5
	majTag    = 6 << 5
	majSimple = 7 << 5
)

// Fixed items.
const (
	cborFalse = 0xf4
	cborTrue  = 0xf5
	cborNull  = 0xf6
)

// CBOR tags used by the encoding (see doc.go).
const (
	tagPosBignum   = 2
	tagNegBignum   = 3
	tagBigfloat    = 5
	tagRational    = 30
	tagTypedValue  = 27       // [Go type name, value]: a value behind an interface whose type is not the plain one for its encoding
	tagNonNilEmpty = 0x706345 // ("pcE") an empty slice or map that is not nil; a nil one keeps the plain encoding
	tagExtTime     = 1001
	tagUint16LE    = 69
	tagUint32LE    = 70
	tagUint64LE    = 71
	tagSint8       = 72
	tagSint16LE    = 77
	tagSint32LE    = 78
	tagSint64LE    = 79
	tagFloat32LE   = 85
	tagFloat64LE   = 86
	canonNaN64     = 0x7ff8000000000000
	canonNaN32     = 0x7fc00000
)

// appendHead appends the shortest head for major type maj and argument n
// (RFC 8949 §4.2.1 "preferred serialization" of the argument).
func appendHead(b []byte, maj byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, maj|byte(n))
	case n <= math.MaxUint8:
		return append(b, maj|24, byte(n))
	case n <= math.MaxUint16:
		return append(b, maj|25, byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return append(b, maj|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(b, maj|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// appendInt appends a CBOR integer (major type 0 or 1).
func appendInt(b []byte, i int64) []byte {
	if i >= 0 {
		return appendHead(b, majUint, uint64(i))
	}
	return appendHead(b, majNegint, uint64(-1-i))
}

// appendText appends s as a text string when it is valid UTF-8 and as a byte
// string otherwise, so that no Go string is ever refused or altered.
func appendText(b []byte, s string) []byte {
	if utf8.ValidString(s) {
		b = appendHead(b, majText, uint64(len(s)))
	} else {
		b = appendHead(b, majBytes, uint64(len(s)))
	}
	return append(b, s...)
}

// appendFloat appends f in the shortest of half, single or double precision
// that represents it exactly. Every NaN becomes f97e00; -0 is f98000 and +0
// f90000 (1/x tells them apart).
func appendFloat(b []byte, f float64) []byte {
	switch {
	case f != f:
		return append(b, majSimple|25, 0x7e, 0x00)
	case f == 0 && math.Signbit(f):
		return append(b, majSimple|25, 0x80, 0x00)
	case f == 0:
		return append(b, majSimple|25, 0x00, 0x00)
	case math.IsInf(f, 1):
		return append(b, majSimple|25, 0x7c, 0x00)
	case math.IsInf(f, -1):
		return append(b, majSimple|25, 0xfc, 0x00)
	}
	f32 := float32(f)
	if float64(f32) != f {
		u := math.Float64bits(f)
		return append(b, majSimple|27, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
			byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
	if h, ok := toHalf(f32); ok {
		return append(b, majSimple|25, byte(h>>8), byte(h))
	}
	u := math.Float32bits(f32)
	return append(b, majSimple|26, byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

// toHalf converts a finite, non-zero float32 to IEEE 754 binary16 when that is
// exact.
func toHalf(f float32) (uint16, bool) {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int((bits>>23)&0xff) - 127
	mant := bits & 0x7fffff
	switch {
	case exp >= -14 && exp <= 15: // normal half
		if mant&0x1fff != 0 {
			return 0, false
		}
		return sign | uint16(exp+15)<<10 | uint16(mant>>13), true
	case exp >= -24 && exp < -14: // subnormal half: value = m·2^-24, 1 ≤ m < 1024
		full := uint32(1<<23) | mant
		shift := uint(-exp - 1)
		if full&(1<<shift-1) != 0 {
			return 0, false
		}
		return sign | uint16(full>>shift), true
	}
	return 0, false
}
