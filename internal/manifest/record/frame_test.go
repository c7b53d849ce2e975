package record

import (
	"bytes"
	"testing"
)

// TestFrameOverhead: a frame is its payload and at most MaxFrameOverhead
// bytes more, at every size where a CBOR head grows, and parses back.
func TestFrameOverhead(t *testing.T) {
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536, 1 << 20} {
		p := bytes.Repeat([]byte{0xa5}, n)
		b := AppendFrame(nil, p)
		if extra := len(b) - n; extra > MaxFrameOverhead {
			t.Errorf("payload of %d bytes: frame adds %d, MaxFrameOverhead is %d", n, extra, MaxFrameOverhead)
		}
		f, err := ParseFrame(b)
		if err != nil || f.N != len(b) || !f.CRCOK || !bytes.Equal(f.Payload, p) {
			t.Errorf("payload of %d bytes: ParseFrame: %+v %v", n, f.N, err)
		}
	}
}
