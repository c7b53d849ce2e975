package record

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// strictHeader decodes b's first item as ParseHeader did before fastHeader.
func strictHeader(b []byte) (Header, int, error) {
	var h Header
	rest, err := headerDecMode.UnmarshalFirst(b, &h)
	return h, len(b) - len(rest), err
}

// TestFastHeader: every header EncodeHeader writes is decoded by
// fastHeader, alike the strict decoder; and of every one-byte change to
// them, and every truncation, what fastHeader accepts the strict decoder
// accepts alike (the rest it leaves to it).
func TestFastHeader(t *testing.T) {
	zero, big := uint64(0), uint64(1<<40)
	var encoded [][]byte
	for _, format := range []string{JournalFormat, SegmentFormat} {
		for v := uint64(MinVersion); v <= MaxVersion+1; v++ {
			for _, name := range []string{"f", "bench/firsthit", "ünïcode/名前"} {
				for _, count := range []*uint64{nil, &zero, &big} {
					b, err := EncodeHeader(format, v, name, count)
					if err != nil {
						t.Fatal(err)
					}
					encoded = append(encoded, append(b, 0x82, 0x41, 'x', 0)) // a record after it
				}
			}
		}
	}
	for _, b := range encoded {
		var h Header
		n := fastHeader(b, &h)
		want, wn, err := strictHeader(b)
		if n == 0 || err != nil || n != wn || !reflect.DeepEqual(h, want) {
			t.Fatalf("% x: fast %+v (%d bytes), strict %+v (%d bytes, %v)", b, h, n, want, wn, err)
		}
	}
	agree := func(b []byte) {
		t.Helper()
		var h Header
		n := fastHeader(b, &h)
		if n == 0 {
			return
		}
		want, wn, err := strictHeader(b)
		if err != nil || n != wn || !reflect.DeepEqual(h, want) {
			t.Fatalf("% x: fast %+v (%d bytes), strict %+v (%d bytes, %v)", b, h, n, want, wn, err)
		}
	}
	for _, b := range encoded[:12] {
		for i := range b {
			agree(b[:i])
			for _, x := range []byte{0x00, 0x01, 0x18, 0x20, 0x60, 0x7f, 0xa4, 0xa5, 0xff, b[i] ^ 1, b[i] + 1} {
				c := append([]byte(nil), b...)
				c[i] = x
				agree(c)
			}
		}
	}
}

// TestHeaderVersionIsAnInteger: a header whose version is a CBOR simple
// value (a damaged byte: 0x02 xor 0xe3 is 0xe1, simple value 1) is
// refused, where the decoder would read it as version 1; false, true and
// null elsewhere in a header are not refused for being simple values.
func TestHeaderVersionIsAnInteger(t *testing.T) {
	b, err := EncodeHeader(JournalFormat, Version, "f", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := encMode.Marshal("version")
	i := bytes.Index(b, key) + len(key)
	if i < len(key) || b[i] != Version {
		t.Fatalf("no version %d after the key in %x", Version, b)
	}
	for _, simple := range []byte{0xe0, 0xe1, 0xe3, 0xe4, 0xf3} {
		d := append([]byte(nil), b...)
		d[i] = simple
		if h, _, err := ParseHeader(d, JournalFormat); !errors.Is(err, ErrBadHeader) {
			t.Errorf("version encoded as %#x: read as version %d, err %v; want ErrBadHeader", simple, h.Version, err)
		}
	}
	if _, _, err := ParseHeader(b, JournalFormat); err != nil {
		t.Fatalf("the undamaged header: %v", err)
	}
	for _, v := range []any{false, true, nil} {
		item, _ := encMode.Marshal(map[string]any{"format": JournalFormat, "version": Version, "digest": digestName, "x": v})
		if _, _, err := ParseHeader(item, JournalFormat); err != nil {
			t.Errorf("a header with an unknown field %v: %v", v, err)
		}
	}
}
