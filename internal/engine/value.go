package engine

import (
	"fmt"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/codec"
)

// Sink decodes stored bytes into a value of a function's result type.
type Sink interface {
	Decode([]byte) error
	decodeDirect(size int64, read func([]byte) error) (handled bool, err error)
	reencode() ([]byte, error)
	fromObject(id cas.ID, size int64) bool
}

// directDecoder is a codec that can read a stored result straight into
// the result's own memory (codec.Numeric).
type directDecoder interface {
	DecodeDirect(size int64, read func([]byte) error, v any) (handled bool, err error)
}

// Value is the Sink of a result type R: after a lookup that hit, V is the
// result and Size the length of its encoding.
type Value[R any] struct {
	Codec codec.Codec
	V     R
	// FromObject makes the result (an R) of a function whose results are
	// objects of their own (a Blob), stored as object id of size bytes. It
	// returns any, not R, so that one function serves every result type.
	FromObject func(id cas.ID, size int64) any
	Size       int64  // the length of the encoding V was decoded from
	raw        []byte // those bytes (nil when read directly)
	streamed   bool   // V was read straight into its memory (decodeDirect): raw is nil
}

// Decode decodes b (a stored or just encoded result) into V (into V
// itself, zeroed first: a value decoded beside it would cost every hit an
// allocation).
func (s *Value[R]) Decode(b []byte) error {
	var zero R
	s.V = zero
	if err := s.Codec.Unmarshal(b, &s.V); err != nil {
		s.V = zero
		return fmt.Errorf("decode cached result as %T: %w", zero, err)
	}
	s.raw, s.Size, s.streamed = b, int64(len(b)), false
	return nil
}

// decodeDirect decodes a stored result of size bytes that read fills in,
// verified, straight into the result's memory, if the codec reads results
// that way (a large numeric slice); handled is false when it does not.
func (s *Value[R]) decodeDirect(size int64, read func([]byte) error) (handled bool, err error) {
	dd, ok := s.Codec.(directDecoder)
	if !ok {
		return false, nil
	}
	var v R
	if handled, err = dd.DecodeDirect(size, read, &v); handled && err == nil {
		s.V, s.raw, s.Size, s.streamed = v, nil, size, true
	}
	return handled, err
}

// Stored returns the bytes V was decoded from (encoded again after a
// direct read: the numeric encoding is exact).
func (s *Value[R]) Stored() []byte {
	if s.streamed {
		b, _ := s.Codec.Marshal(s.V)
		return b
	}
	return s.raw
}

// Set makes r (an R; nil for the zero R) the value.
func (s *Value[R]) Set(r any) {
	if r == nil {
		var zero R
		s.V = zero
		return
	}
	s.V = r.(R)
}

// Len returns the length of the encoding V was decoded from.
func (s *Value[R]) Len() int64 { return s.Size }

func (s *Value[R]) reencode() ([]byte, error) { return s.Codec.Marshal(s.V) }

// fromObject makes V the result stored as object id, when the function's
// results are objects of their own.
func (s *Value[R]) fromObject(id cas.ID, size int64) bool {
	if s.FromObject == nil {
		return false
	}
	s.V, s.raw, s.Size, s.streamed = s.FromObject(id, size).(R), nil, size, true
	return true
}
