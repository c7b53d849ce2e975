package record

import (
	"math"
	"unicode/utf8"
)

// fastDecode decodes b into e without reflection when b is exactly the
// canonical encoding Encode writes for an entry without out files: a
// map whose keys are one-letter text strings in canonical order (c d h i k
// r s t u y z), every head in its shortest form, hashes of exactly 32 bytes, no zero
// value written for an omitempty field, t and a nonzero h present, and
// nothing after the map. For anything else (out files included) it returns
// false and leaves e untouched, and the caller falls back to the strict
// reflective decoder. Whatever it accepts the strict decoder accepts too,
// with an equal Entry (FuzzFastDecode checks this); Key is a copy, never
// an alias of b (b may be a mapping that goes away).
func fastDecode(b []byte, e *Entry) bool {
	if len(b) > MaxRecord {
		return false
	}
	major, n, p, minimal, err := ReadHead(b)
	if err != nil || major != MajorMap || !minimal || n < 2 || n > 11 {
		return false
	}
	var out Entry
	var last byte // keys must strictly increase: canonical order, no duplicates
	var haveT bool
	for range n {
		if len(b)-p < 3 || b[p] != 0x60|1 || b[p+1] <= last {
			return false
		}
		key := b[p+1]
		last = key
		p += 2
		switch key {
		case 'c':
			s, q, ok := fastString(b, p, MajorText)
			if !ok || !utf8.Valid(s) {
				return false
			}
			out.Codec, p = string(s), q
		case 'd':
			if b[p] != 0xf5 { // true; false is omitted
				return false
			}
			out.Deleted, p = true, p+1
		case 'h':
			if !fastHash(b, p, (*[32]byte)(&out.KeyHash)) || out.KeyHash == ([32]byte{}) {
				return false
			}
			p += 34
		case 'i':
			s, q, ok := fastString(b, p, MajorBytes)
			if !ok {
				return false
			}
			out.Inline, p = append(make([]byte, 0, len(s)), s...), q
		case 'k':
			s, q, ok := fastString(b, p, MajorBytes)
			if !ok {
				return false
			}
			out.Key, p = append(make([]byte, 0, len(s)), s...), q
		case 'r':
			if !fastHash(b, p, (*[32]byte)(&out.Result)) || out.Result == ([32]byte{}) {
				return false
			}
			p += 34
		case 's':
			major, v, hn, minimal, err := ReadHead(b[p:])
			if err != nil || major != MajorUint || !minimal || v == 0 || v > math.MaxInt64 {
				return false
			}
			out.Size, p = int64(v), p+hn
		case 't':
			major, v, hn, minimal, err := ReadHead(b[p:])
			if err != nil || !minimal || v > math.MaxInt64 {
				return false
			}
			switch major {
			case MajorUint:
				out.Time = int64(v)
			case MajorNeg:
				out.Time = -1 - int64(v)
			default:
				return false
			}
			p += hn
			haveT = true
		case 'u':
			major, v, hn, minimal, err := ReadHead(b[p:])
			if err != nil || major != MajorUint || !minimal || v == 0 || v > math.MaxInt64 {
				return false
			}
			out.Used, p = int64(v), p+hn
		case 'y':
			if !fastHash(b, p, (*[32]byte)(&out.Type)) || out.Type == ([32]byte{}) {
				return false
			}
			p += 34
		case 'z':
			if b[p] != 0xf5 { // true; false is omitted
				return false
			}
			out.Zstd, p = true, p+1
		default: // 'f' (out files) and anything unknown: the strict decoder's job
			return false
		}
	}
	if p != len(b) || !haveT || out.KeyHash == ([32]byte{}) || (out.Inline != nil && (out.Deleted || int64(len(out.Inline)) != out.Size)) {
		return false
	}
	*e = out
	return true
}

// fastString returns the contents of the non-empty, shortest-form definite
// string of the given major type at b[p:], and the offset after it.
func fastString(b []byte, p int, major byte) ([]byte, int, bool) {
	m, n, hn, minimal, err := ReadHead(b[p:])
	if err != nil || m != major || !minimal || n == 0 || n > uint64(len(b)-p-hn) {
		return nil, 0, false
	}
	q := p + hn + int(n)
	return b[p+hn : q], q, true
}

// fastHash copies the 32-byte byte string at b[p:] into h.
func fastHash(b []byte, p int, h *[32]byte) bool {
	if len(b)-p < 34 || b[p] != 0x58 || b[p+1] != 32 {
		return false
	}
	copy(h[:], b[p+2:p+34])
	return true
}

// fastEncode returns the canonical encoding of e without reflection, for
// an entry without out files: exactly the bytes encodeReflect writes
// (TestFastEncode and FuzzFastEncode check it), in one allocation instead
// of five. It declines (false) an entry with out files or a codec name that
// is not UTF-8.
func fastEncode(e *Entry) ([]byte, bool) {
	if len(e.Outs) > 0 || !utf8.ValidString(e.Codec) {
		return nil, false
	}
	var zero [32]byte
	// b[0] is the map's head, written once the fields are counted: at most
	// 11, so one byte.
	b := make([]byte, 1, 200+len(e.Codec)+len(e.Key)+len(e.Inline))
	n := 0
	key := func(k byte) { b = append(b, 0x61, k); n++ }
	// Keys in canonical order: one-letter text strings sort by the letter.
	if e.Codec != "" {
		key('c')
		b = append(AppendHead(b, MajorText, uint64(len(e.Codec))), e.Codec...)
	}
	if e.Deleted {
		key('d')
		b = append(b, 0xf5)
	}
	key('h')
	b = appendHash(b, (*[32]byte)(&e.KeyHash))
	if len(e.Inline) > 0 {
		key('i')
		b = append(AppendHead(b, MajorBytes, uint64(len(e.Inline))), e.Inline...)
	}
	if len(e.Key) > 0 {
		key('k')
		b = append(AppendHead(b, MajorBytes, uint64(len(e.Key))), e.Key...)
	}
	if e.Result != zero {
		key('r')
		b = appendHash(b, (*[32]byte)(&e.Result))
	}
	if e.Size != 0 {
		key('s')
		b = appendInt(b, e.Size)
	}
	key('t')
	b = appendInt(b, e.Time)
	if e.Used != 0 {
		key('u')
		b = appendInt(b, e.Used)
	}
	if e.Type != zero {
		key('y')
		b = appendHash(b, (*[32]byte)(&e.Type))
	}
	if e.Zstd {
		key('z')
		b = append(b, 0xf5)
	}
	b[0] = MajorMap<<5 | byte(n)
	return b, true
}

// appendHash appends h as a 32-byte byte string.
func appendHash(b []byte, h *[32]byte) []byte { return append(append(b, 0x58, 32), h[:]...) }

// appendInt appends v as a CBOR integer in its shortest form.
func appendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return AppendHead(b, MajorUint, uint64(v))
	}
	return AppendHead(b, MajorNeg, uint64(-1-v))
}
