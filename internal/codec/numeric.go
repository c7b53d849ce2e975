package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"
	"unsafe"

	"github.com/pcache/pcache/internal/manifest/record"
)

// Numeric is the CBOR codec of a result type that is a slice of
// fixed-size numbers ([]float64, []int32, ..., or a named type of one):
// such a result is stored as one RFC 8746 typed array, little-endian (the
// tag of its element type, then one byte string holding the elements'
// bytes), so it is encoded and decoded with one copy instead of element by
// element. Its name is the CBOR codec's: entries stored element by element
// (by earlier releases, or in a value of type any) decode as they always
// did, and a typed array is valid CBOR that any RFC 8746 reader takes.
type Numeric struct {
	CBOR
	t    reflect.Type // the slice type
	tag  uint64       // its RFC 8746 tag
	size int          // bytes per element
}

// RFC 8746 tags of little-endian typed arrays, by element kind.
var typedArrayTags = map[reflect.Kind]uint64{
	reflect.Uint16: 69, reflect.Uint32: 70, reflect.Uint64: 71,
	reflect.Int8: 72, reflect.Int16: 77, reflect.Int32: 78, reflect.Int64: 79,
	reflect.Int:     79, // stored as int64
	reflect.Float32: 85, reflect.Float64: 86,
}

// NumericFor returns the numeric codec of t, or nil when t is not a
// slice of fixed-size numbers stored by the CBOR codec's rules alone (a
// type with its own marshal methods keeps them; []byte and []uint8 are the
// raw codec's or a byte string already).
func NumericFor(t reflect.Type) Codec {
	if t.Kind() != reflect.Slice {
		return nil
	}
	tag, ok := typedArrayTags[t.Elem().Kind()]
	if !ok {
		return nil
	}
	if is, _ := opaque(t); is {
		return nil
	}
	if is, _ := opaque(t.Elem()); is {
		return nil
	}
	size := int(t.Elem().Size())
	if t.Elem().Kind() == reflect.Int {
		size = 8
	}
	return Numeric{t: t, tag: tag, size: size}
}

// inMemory reports whether the elements' memory is exactly the typed
// array's bytes: a little-endian machine, and elements of the stored size
// (an int is stored as 8 bytes).
func (c Numeric) inMemory() bool {
	return littleEndian && int(c.t.Elem().Size()) == c.size
}

// littleEndian reports whether this machine stores numbers little-endian
// (then the elements' memory is the typed array's bytes).
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

func (c Numeric) Marshal(v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if rv.Type() != c.t || rv.IsNil() {
		return c.CBOR.Marshal(v) // nil stays null; anything else is not ours
	}
	n := rv.Len()
	body := n * c.size
	out := make([]byte, 0, 9+9+body)
	out = record.AppendHead(out, majorTag, c.tag)
	out = record.AppendHead(out, record.MajorBytes, uint64(body))
	start := len(out)
	out = out[:start+body]
	c.put(out[start:], rv, n)
	return out, nil
}

// put writes the n elements of slice rv into dst, little-endian.
func (c Numeric) put(dst []byte, rv reflect.Value, n int) {
	if n == 0 {
		return
	}
	if c.inMemory() {
		copy(dst, unsafe.Slice((*byte)(rv.UnsafePointer()), n*c.size))
		return
	}
	for i := range n {
		e := rv.Index(i)
		b := dst[i*c.size:]
		switch e.Kind() {
		case reflect.Int8:
			b[0] = byte(e.Int())
		case reflect.Int16:
			binary.LittleEndian.PutUint16(b, uint16(e.Int()))
		case reflect.Int32:
			binary.LittleEndian.PutUint32(b, uint32(e.Int()))
		case reflect.Int, reflect.Int64:
			binary.LittleEndian.PutUint64(b, uint64(e.Int()))
		case reflect.Uint16:
			binary.LittleEndian.PutUint16(b, uint16(e.Uint()))
		case reflect.Uint32:
			binary.LittleEndian.PutUint32(b, uint32(e.Uint()))
		case reflect.Uint64:
			binary.LittleEndian.PutUint64(b, e.Uint())
		case reflect.Float32:
			binary.LittleEndian.PutUint32(b, math.Float32bits(float32(e.Float())))
		case reflect.Float64:
			binary.LittleEndian.PutUint64(b, math.Float64bits(e.Float()))
		}
	}
}

func (c Numeric) Unmarshal(data []byte, v any) error {
	p := reflect.ValueOf(v)
	if p.Kind() != reflect.Pointer || p.IsNil() || p.Elem().Type() != c.t {
		return c.CBOR.Unmarshal(data, v)
	}
	body, ok, err := c.typedArray(data)
	if err != nil {
		return err
	}
	if !ok {
		return c.CBOR.Unmarshal(data, v) // stored element by element
	}
	n := len(body) / c.size
	s := reflect.MakeSlice(c.t, n, n)
	if err := c.get(s, body, n); err != nil {
		return err
	}
	p.Elem().Set(s)
	return nil
}

// typedArray returns the elements' bytes of data when data is exactly one
// typed array of this codec's tag (ok false: another encoding).
func (c Numeric) typedArray(data []byte) (body []byte, ok bool, err error) {
	tag, rest, isTag := readHead(data, majorTag)
	if !isTag || tag != c.tag {
		return nil, false, nil
	}
	n, rest, isBytes := readHead(rest, record.MajorBytes)
	if !isBytes || n != uint64(len(rest)) || n%uint64(c.size) != 0 {
		return nil, false, fmt.Errorf("pcache: a typed array of tag %d that is not one byte string of whole %d-byte elements", c.tag, c.size)
	}
	return rest, true, nil
}

// get reads n little-endian elements from body into slice s.
func (c Numeric) get(s reflect.Value, body []byte, n int) error {
	if n == 0 {
		return nil
	}
	kind := c.t.Elem().Kind()
	if c.inMemory() {
		copy(unsafe.Slice((*byte)(s.UnsafePointer()), len(body)), body)
		return nil
	}
	for i := range n {
		b := body[i*c.size:]
		e := s.Index(i)
		switch kind {
		case reflect.Int8:
			e.SetInt(int64(int8(b[0])))
		case reflect.Int16:
			e.SetInt(int64(int16(binary.LittleEndian.Uint16(b))))
		case reflect.Int32:
			e.SetInt(int64(int32(binary.LittleEndian.Uint32(b))))
		case reflect.Int, reflect.Int64:
			x := int64(binary.LittleEndian.Uint64(b))
			if e.OverflowInt(x) {
				return fmt.Errorf("pcache: element %d (%d) overflows %v", i, x, c.t.Elem())
			}
			e.SetInt(x)
		case reflect.Uint16:
			e.SetUint(uint64(binary.LittleEndian.Uint16(b)))
		case reflect.Uint32:
			e.SetUint(uint64(binary.LittleEndian.Uint32(b)))
		case reflect.Uint64:
			e.SetUint(binary.LittleEndian.Uint64(b))
		case reflect.Float32:
			e.SetFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
		case reflect.Float64:
			e.SetFloat(math.Float64frombits(binary.LittleEndian.Uint64(b)))
		}
	}
	return nil
}

// SameEncoding reports whether two encodings hold the same slice: equal
// bytes, or one element by element (an earlier entry) and the other a
// typed array of the same elements, bit for bit. An element-by-element
// encoding counts only if it is exactly the CBOR codec's encoding of the
// slice it decodes to (nothing converted on the way).
func (c Numeric) SameEncoding(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	ta, okA := c.asTyped(a)
	tb, okB := c.asTyped(b)
	return okA && okB && bytes.Equal(ta, tb)
}

// asTyped returns encoding e as a typed array: itself if it is one, else
// the slice it holds element by element, if e is exactly the CBOR codec's
// encoding of that slice.
func (c Numeric) asTyped(e []byte) ([]byte, bool) {
	if _, ok, err := c.typedArray(e); ok || err != nil {
		return e, err == nil
	}
	x := reflect.New(c.t)
	if c.CBOR.Unmarshal(e, x.Interface()) != nil {
		return nil, false
	}
	if plain, err := c.CBOR.Marshal(x.Elem().Interface()); err != nil || !bytes.Equal(plain, e) {
		return nil, false
	}
	t, err := c.Marshal(x.Elem().Interface())
	return t, err == nil
}

// majorTag is the CBOR major type of a tag (a typed array is a tag around
// a byte string, record.MajorBytes).
const majorTag = 6

// readHead reads a CBOR head of major type major at the start of b: its
// argument and the bytes after it (ok false: another major type, or not a
// well-formed head).
func readHead(b []byte, major byte) (n uint64, rest []byte, ok bool) {
	m, v, hn, _, err := record.ReadHead(b)
	if err != nil || m != major {
		return 0, nil, false
	}
	return v, b[hn:], true
}

// DecodeDirect decodes a stored typed array of size bytes that read fills
// in, verified, straight into a new slice's memory (v points to it): the
// object is read once, into the slice, with no buffer and no copy. Its
// head goes into 16 bytes allocated before the elements, so that they
// start aligned. handled is false when the stored bytes are not a typed
// array this codec reads that way (an entry stored element by element, a
// machine whose memory is not the typed array's bytes): the caller then
// reads the object whole.
func (c Numeric) DecodeDirect(size int64, read func(buf []byte) error, v any) (bool, error) {
	p := reflect.ValueOf(v)
	if p.Kind() != reflect.Pointer || p.IsNil() || p.Elem().Type() != c.t || !c.inMemory() {
		return false, nil
	}
	head, n, ok := c.headFor(size)
	if !ok {
		return false, nil
	}
	const pad = 16
	count := int(n) / c.size
	padElems := pad / c.size
	s := reflect.MakeSlice(c.t, padElems+count, padElems+count)
	mem := unsafe.Slice((*byte)(s.UnsafePointer()), pad+int(n))
	buf := mem[pad-len(head):]
	if err := read(buf); err != nil {
		return true, err
	}
	if !bytes.Equal(buf[:len(head)], head) {
		return false, nil // verified, but not a typed array: read as any entry
	}
	p.Elem().Set(s.Slice(padElems, padElems+count))
	return true, nil
}

// headFor returns the head (tag and byte-string head) of the typed array
// whose whole encoding is size bytes, and its body length.
func (c Numeric) headFor(size int64) (head []byte, n uint64, ok bool) {
	for _, k := range []int64{1, 2, 3, 5, 9} {
		body := size - 2 - k
		if body < 0 || body%int64(c.size) != 0 {
			continue
		}
		h := record.AppendHead(record.AppendHead(nil, majorTag, c.tag), record.MajorBytes, uint64(body))
		if int64(len(h)) == 2+k {
			return h, uint64(body), true
		}
	}
	return nil, 0, false
}

// Stream returns the size of v's encoding (what Marshal returns) and a
// function that writes it to w from the elements' own memory, without
// building it: the head, then the slice's bytes. ok is false when it
// cannot (nil, another type, a machine whose memory is not the typed
// array's bytes): the caller marshals.
func (c Numeric) Stream(v any) (size int64, write func(w io.Writer) error, ok bool) {
	rv := reflect.ValueOf(v)
	if rv.Type() != c.t || rv.IsNil() || !c.inMemory() {
		return 0, nil, false
	}
	n := rv.Len()
	head := record.AppendHead(record.AppendHead(nil, majorTag, c.tag), record.MajorBytes, uint64(n*c.size))
	body := unsafe.Slice((*byte)(rv.UnsafePointer()), n*c.size)
	return int64(len(head) + len(body)), func(w io.Writer) error {
		if _, err := w.Write(head); err != nil {
			return err
		}
		for b := body; len(b) > 0; { // in chunks: a writer may hold what it is given
			m := min(len(b), 1<<20)
			if _, err := w.Write(b[:m]); err != nil {
				return err
			}
			b = b[m:]
		}
		return nil
	}, true
}

// Clone returns a copy of slice v: exactly what decoding its encoding
// gives back (a typed array is bit-exact), without the encoding.
func (c Numeric) Clone(v any) any {
	rv := reflect.ValueOf(v)
	out := reflect.MakeSlice(c.t, rv.Len(), rv.Len())
	reflect.Copy(out, rv)
	return out.Interface()
}
