package record

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Every record in a journal or segment is framed as the CBOR array
//
//	[payload: bstr (the encoded Entry), crc: uint (CRC-32C of payload)]
//
// with all lengths and integers in shortest form. The frame is parsed by hand
// (it is fixed and tiny) so a reader can tell an incomplete record at the end
// of a file from bytes that are not a record at all, and can bound a declared
// length before allocating anything.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

var (
	// ErrShort says the bytes end before the item does (a torn tail, or a
	// write still in progress).
	ErrShort = errors.New("incomplete item")
	// ErrFraming says the bytes are not the expected item.
	ErrFraming = errors.New("bad framing")
)

// CBOR major types.
const (
	MajorUint  = 0
	MajorNeg   = 1
	MajorBytes = 2
	MajorText  = 3
	MajorArray = 4
	MajorMap   = 5
)

// AppendHead appends a CBOR head (major type and argument) in shortest form.
func AppendHead(dst []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(dst, m|byte(v))
	case v <= 0xff:
		return append(dst, m|24, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(dst, m|27), v)
	}
}

// ReadHead parses the CBOR head at the start of b. minimal reports whether
// the argument is in shortest form. Indefinite lengths and reserved
// additional-info values are ErrFraming.
func ReadHead(b []byte) (major byte, v uint64, n int, minimal bool, err error) {
	if len(b) == 0 {
		return 0, 0, 0, false, ErrShort
	}
	major, ai := b[0]>>5, b[0]&0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), 1, true, nil
	case ai > 27:
		return 0, 0, 0, false, ErrFraming
	}
	size := 1 << (ai - 24) // 1, 2, 4 or 8 bytes
	if len(b) < 1+size {
		return 0, 0, 0, false, ErrShort
	}
	switch size {
	case 1:
		v = uint64(b[1])
		minimal = v >= 24
	case 2:
		v = uint64(binary.BigEndian.Uint16(b[1:]))
		minimal = v > 0xff
	case 4:
		v = uint64(binary.BigEndian.Uint32(b[1:]))
		minimal = v > 0xffff
	case 8:
		v = binary.BigEndian.Uint64(b[1:])
		minimal = v > 0xffffffff
	}
	return major, v, 1 + size, minimal, nil
}

// MaxFrameOverhead is the most bytes AppendFrame adds to a payload: the
// array head, the payload's head (at most 9 bytes) and the checksum (a
// uint32: at most 5).
const MaxFrameOverhead = 1 + 9 + 5

// AppendFrame appends payload framed as a record.
func AppendFrame(dst, payload []byte) []byte {
	dst = append(dst, MajorArray<<5|2)
	dst = AppendHead(dst, MajorBytes, uint64(len(payload)))
	dst = append(dst, payload...)
	return AppendHead(dst, MajorUint, uint64(checksum(payload)))
}

// Frame is one parsed record frame.
type Frame struct {
	Payload []byte // aliases the input
	N       int    // bytes the frame occupies
	CRCOK   bool   // the checksum matches the payload
	Minimal bool   // every head is in shortest form
}

// ParseFrame parses the record frame at the start of b. It returns ErrShort
// when b ends inside the frame and ErrFraming when b does not start with a
// frame (including a declared payload longer than MaxRecord). A checksum
// mismatch is not an error: the frame is intact and the caller skips it.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) == 0 {
		return Frame{}, ErrShort
	}
	if b[0] != MajorArray<<5|2 {
		return Frame{}, ErrFraming
	}
	major, l, hn, min1, err := ReadHead(b[1:])
	if err != nil {
		return Frame{}, err
	}
	if major != MajorBytes || l > MaxRecord {
		return Frame{}, ErrFraming
	}
	start := 1 + hn
	if uint64(len(b)-start) < l {
		return Frame{}, ErrShort
	}
	end := start + int(l)
	major, sum, cn, min2, err := ReadHead(b[end:])
	if err != nil {
		return Frame{}, err
	}
	if major != MajorUint || sum > 0xffffffff {
		return Frame{}, ErrFraming
	}
	p := b[start:end:end]
	return Frame{Payload: p, N: end + cn, CRCOK: checksum(p) == uint32(sum), Minimal: min1 && min2}, nil
}
