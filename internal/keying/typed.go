package keying

import (
	"encoding/binary"
	"math"
	"reflect"
	"unsafe"
)

// chunkBytes is how many bytes of a typed array's payload are scanned or
// converted at a time: big enough for BLAKE3's wide path, small enough to
// stay in cache between the scan and the hash.
const chunkBytes = 64 << 10

// forceConvert makes typed arrays always take the element-by-element
// conversion path (the one big-endian machines and 32-bit int/uint use), so
// tests on little-endian 64-bit machines cover it too.
var forceConvert = false

// typed appends a numeric slice or array as an RFC 8746 typed array: a tag
// over a byte string holding the elements little-endian, int and uint widened
// to 64 bits, every float NaN replaced by the canonical quiet NaN (-0 keeps
// its sign bit: 1/x tells it from +0).
func (e *encoder) typed(v reflect.Value, ti *typeInfo) error {
	ta := ti.ta
	n := v.Len()
	var p unsafe.Pointer
	if n > 0 {
		if ti.isArray {
			p = addressable(v).Addr().UnsafePointer()
		} else {
			p = v.UnsafePointer()
		}
	}
	e.buf = appendHead(e.buf, majTag, ta.tag)
	e.buf = appendHead(e.buf, majBytes, uint64(n)*uint64(ta.width))
	if n == 0 {
		return nil
	}
	if littleEndian && ta.srcSize == ta.width && !forceConvert {
		src := unsafe.Slice((*byte)(p), n*ta.width)
		switch ta.kind {
		case reflect.Float64:
			return e.floatsDirect(src, 8, needsFix64, fix64)
		case reflect.Float32:
			return e.floatsDirect(src, 4, needsFix32, fix32)
		}
		return e.writeLarge(src)
	}
	per := chunkBytes / ta.width
	if cap(e.scratch) < chunkBytes {
		e.scratch = make([]byte, chunkBytes)
	}
	for off := 0; off < n; off += per {
		cnt := min(per, n-off)
		dst := e.scratch[:cnt*ta.width]
		convert(dst, p, off, cnt, ta.kind)
		if err := e.writeLarge(dst); err != nil {
			return err
		}
	}
	return nil
}

// floatsDirect writes a little-endian float payload chunk by chunk, straight
// from the slice's memory unless a chunk holds a NaN or -0, which is then
// normalised in a copy.
func (e *encoder) floatsDirect(src []byte, width int, needsFix func([]byte) bool, fix func([]byte)) error {
	for len(src) > 0 {
		c := src[:min(len(src), chunkBytes)]
		src = src[len(c):]
		if !needsFix(c) {
			if err := e.writeLarge(c); err != nil {
				return err
			}
			continue
		}
		if cap(e.scratch) < chunkBytes {
			e.scratch = make([]byte, chunkBytes)
		}
		d := e.scratch[:len(c)]
		copy(d, c)
		fix(d)
		if err := e.writeLarge(d); err != nil {
			return err
		}
	}
	return nil
}

// needsFix64 reports whether the native float64s in b include a NaN. (The
// canonical NaN counts too; fixing it is a no-op.)
func needsFix64(b []byte) bool {
	s := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
	for _, u := range s {
		if u<<1 > 0xffe0000000000000 {
			return true
		}
	}
	return false
}

func fix64(b []byte) {
	s := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
	for i, u := range s {
		s[i] = norm64(u)
	}
}

func needsFix32(b []byte) bool {
	s := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
	for _, u := range s {
		if u<<1 > 0xff000000 {
			return true
		}
	}
	return false
}

func fix32(b []byte) {
	s := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
	for i, u := range s {
		s[i] = norm32(u)
	}
}

// norm64 and norm32 canonicalise one float's bits: any NaN → quiet NaN with
// zero payload. Every other value, -0 included, keeps its bits.
func norm64(u uint64) uint64 {
	if u<<1 > 0xffe0000000000000 {
		return canonNaN64
	}
	return u
}

func norm32(u uint32) uint32 {
	if u<<1 > 0xff000000 {
		return canonNaN32
	}
	return u
}

// convert writes cnt elements of kind k, starting at element off of the
// array at p, into dst in the typed array's little-endian form.
func convert(dst []byte, p unsafe.Pointer, off, cnt int, k reflect.Kind) {
	le := binary.LittleEndian
	switch k {
	case reflect.Int8:
		for i, x := range unsafe.Slice((*int8)(p), off+cnt)[off:] {
			dst[i] = byte(x)
		}
	case reflect.Int16:
		for i, x := range unsafe.Slice((*int16)(p), off+cnt)[off:] {
			le.PutUint16(dst[2*i:], uint16(x))
		}
	case reflect.Int32:
		for i, x := range unsafe.Slice((*int32)(p), off+cnt)[off:] {
			le.PutUint32(dst[4*i:], uint32(x))
		}
	case reflect.Int64:
		for i, x := range unsafe.Slice((*int64)(p), off+cnt)[off:] {
			le.PutUint64(dst[8*i:], uint64(x))
		}
	case reflect.Int:
		for i, x := range unsafe.Slice((*int)(p), off+cnt)[off:] {
			le.PutUint64(dst[8*i:], uint64(int64(x)))
		}
	case reflect.Uint16:
		for i, x := range unsafe.Slice((*uint16)(p), off+cnt)[off:] {
			le.PutUint16(dst[2*i:], x)
		}
	case reflect.Uint32:
		for i, x := range unsafe.Slice((*uint32)(p), off+cnt)[off:] {
			le.PutUint32(dst[4*i:], x)
		}
	case reflect.Uint64:
		for i, x := range unsafe.Slice((*uint64)(p), off+cnt)[off:] {
			le.PutUint64(dst[8*i:], x)
		}
	case reflect.Uint:
		for i, x := range unsafe.Slice((*uint)(p), off+cnt)[off:] {
			le.PutUint64(dst[8*i:], uint64(x))
		}
	case reflect.Float32:
		for i, x := range unsafe.Slice((*float32)(p), off+cnt)[off:] {
			le.PutUint32(dst[4*i:], norm32(math.Float32bits(x)))
		}
	case reflect.Float64:
		for i, x := range unsafe.Slice((*float64)(p), off+cnt)[off:] {
			le.PutUint64(dst[8*i:], norm64(math.Float64bits(x)))
		}
	}
}
