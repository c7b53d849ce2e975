package keying

import (
	"math"
	"math/big"
	"reflect"
	"time"
)

// bigPtr returns a pointer to the math/big value held in v.
func bigPtr[T any](v reflect.Value) *T {
	return (*T)(addressable(v).Addr().UnsafePointer())
}

// time appends a time.Time as RFC 9581 extended time, tag 1001 over the map
// {1: Unix seconds, -9: nanoseconds, "zone": [offset, abbreviation, location]};
// the -9 entry is left out when the nanoseconds are zero, and the "zone"
// entry when the time shows UTC (t.Zone() is "UTC", 0) or the encoder keys
// times by their instant (InstantArg). The monotonic reading is not keyed.
func (e *encoder) time(v reflect.Value) error {
	t, _ := reflect.TypeAssert[time.Time](v)
	sec, ns := t.Unix(), t.Nanosecond()
	abbr, off := t.Zone()
	zone := !e.instant && (abbr != "UTC" || off != 0)
	n := byte(1)
	if ns != 0 {
		n++
	}
	if zone {
		n++
	}
	e.buf = appendHead(e.buf, majTag, tagExtTime)
	e.buf = append(e.buf, majMap|n, 0x01)
	e.buf = appendInt(e.buf, sec)
	if ns != 0 {
		e.buf = append(e.buf, majNegint|8) // -9
		e.buf = appendInt(e.buf, int64(ns))
	}
	if zone {
		e.buf = appendText(e.buf, "zone")
		e.buf = append(e.buf, majArray|3)
		e.buf = appendInt(e.buf, int64(off))
		e.buf = appendText(e.buf, abbr)
		e.buf = appendText(e.buf, t.Location().String())
	}
	return nil
}

// bigInt appends x as a plain CBOR integer when it fits in 64 bits (major
// type 0 or 1) and as a tag 2 or 3 bignum otherwise (RFC 8949 §3.4.3). A nil
// *big.Int never gets here (nil pointers are null).
func (e *encoder) bigInt(x *big.Int) {
	e.buf = appendBigInt(e.buf, x)
}

func appendBigInt(b []byte, x *big.Int) []byte {
	if x.Sign() >= 0 {
		if x.IsUint64() {
			return appendHead(b, majUint, x.Uint64())
		}
		b = appendHead(b, majTag, tagPosBignum)
		return appendBytes(b, x.Bytes())
	}
	// CBOR negative integers carry n = -1 - x = |x| - 1.
	n := new(big.Int).Neg(x)
	n.Sub(n, big.NewInt(1))
	if n.IsUint64() {
		return appendHead(b, majNegint, n.Uint64())
	}
	b = appendHead(b, majTag, tagNegBignum)
	return appendBytes(b, n.Bytes())
}

func appendBytes(b, p []byte) []byte {
	b = appendHead(b, majBytes, uint64(len(p)))
	return append(b, p...)
}

// bigFloat appends x as an RFC 8949 §3.4.4 bigfloat, tag 5 over
// [exponent, mantissa] with value mantissa·2^exponent and an odd mantissa (or
// [0, 0] for zero of either sign). Precision, accuracy and rounding mode are
// not keyed. ±Inf are the floats ±Inf.
func (e *encoder) bigFloat(x *big.Float) error {
	if x.IsInf() {
		if x.Signbit() {
			e.buf = appendFloat(e.buf, math.Inf(-1))
		} else {
			e.buf = appendFloat(e.buf, math.Inf(1))
		}
		return nil
	}
	e.buf = appendHead(e.buf, majTag, tagBigfloat)
	e.buf = append(e.buf, majArray|2)
	if x.Sign() == 0 {
		e.buf = append(e.buf, 0x00, 0x00)
		return nil
	}
	mant := new(big.Float)
	exp := x.MantExp(mant) // x = mant·2^exp, 0.5 ≤ |mant| < 1
	prec := int(x.MinPrec())
	m, _ := mant.SetMantExp(mant, prec).Int(nil) // exact: mant has prec significant bits
	e.buf = appendInt(e.buf, int64(exp-prec))
	e.buf = appendBigInt(e.buf, m)
	return nil
}

// bigRat appends x as tag 30 over [numerator, denominator] (denominator ≥ 1,
// in lowest terms, as math/big keeps it).
func (e *encoder) bigRat(x *big.Rat) {
	e.buf = appendHead(e.buf, majTag, tagRational)
	e.buf = append(e.buf, majArray|2)
	e.buf = appendBigInt(e.buf, x.Num())
	e.buf = appendBigInt(e.buf, x.Denom())
}
