package codec

import (
	"bytes"
	"encoding/hex"
	"math"
	"reflect"
	"testing"
)

// TestNumericEncoding: a numeric slice result is one RFC 8746 typed array,
// little-endian, byte for byte.
func TestNumericEncoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    any
		want string
	}{
		{[]float64{1}, "d856" + "48" + "000000000000f03f"},
		{[]int16{1, -2}, "d84d" + "44" + "0100feff"},
		{[]uint32{7}, "d846" + "44" + "07000000"},
		{[]int{-1}, "d84f" + "48" + "ffffffffffffffff"},
		{[]float32{}, "d855" + "40"},
	} {
		c := For(reflect.TypeOf(tc.v))
		b, err := c.Marshal(tc.v)
		if err != nil || hex.EncodeToString(b) != tc.want {
			t.Errorf("%T %v: %x, %v; want %s", tc.v, tc.v, b, err, tc.want)
		}
	}
	if _, ok := For(reflect.TypeFor[[]string]()).(Numeric); ok {
		t.Error("[]string took the numeric codec")
	}
}

// FuzzNumericDecode: any bytes decode into a []float64 or fail, never
// panic; a typed array that decodes encodes back to the same bytes.
func FuzzNumericDecode(f *testing.F) {
	c := NumericFor(reflect.TypeFor[[]float64]()).(Numeric)
	for _, v := range [][]float64{nil, {}, {1, math.NaN()}, {math.Inf(-1)}} {
		b, _ := c.Marshal(v)
		f.Add(b)
		p, _ := CBOR{}.Marshal(v)
		f.Add(p)
	}
	f.Add([]byte{0xd8, 0x56, 0x43, 1, 2, 3})
	f.Add([]byte{0xd8, 0x56, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var v []float64
		if c.Unmarshal(b, &v) != nil {
			return
		}
		if _, ok, _ := c.typedArray(b); ok {
			back, err := c.Marshal(v)
			if err != nil || !bytes.Equal(back, b) && v != nil {
				t.Fatalf("%x decoded to %d elements, encoded back as %x (%v)", b, len(v), back, err)
			}
		}
	})
}
