package pcache

import (
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// Codec encodes and decodes results. Name is recorded with every entry; an
// entry written under another name is a miss, never a misdecoded value.
type Codec interface {
	Name() string
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// CBOR is the default result codec: deterministic CBOR (sorted maps, so equal
// results are stored once) with nanosecond times, decoding into a fresh value
// on every hit.
var CBOR Codec = cborCodec{}

type cborCodec struct{}

var (
	resultEnc = func() cbor.EncMode {
		o := cbor.CoreDetEncOptions()
		o.Time = cbor.TimeRFC3339Nano
		o.NaNConvert = cbor.NaNConvertNone // results round-trip bit for bit
		o.InfConvert = cbor.InfConvertNone
		o.ShortestFloat = cbor.ShortestFloatNone
		m, err := o.EncMode()
		if err != nil {
			panic(err) // static options
		}
		return m
	}()
	resultDec = func() cbor.DecMode {
		m, err := cbor.DecOptions{
			MaxNestedLevels:  1024,
			MaxArrayElements: 1<<31 - 1,
			MaxMapPairs:      1<<31 - 1,
			DupMapKey:        cbor.DupMapKeyEnforcedAPF,
			IndefLength:      cbor.IndefLengthForbidden,
			TimeTag:          cbor.DecTagOptional,
		}.DecMode()
		if err != nil {
			panic(err) // static options
		}
		return m
	}()
)

func (cborCodec) Name() string                       { return "cbor" }
func (cborCodec) Marshal(v any) ([]byte, error)      { return resultEnc.Marshal(v) }
func (cborCodec) Unmarshal(data []byte, v any) error { return resultDec.Unmarshal(data, v) }

// rawCodec stores a []byte result as the object's bytes, so a hit is one
// verified file read.
type rawCodec struct{}

func (rawCodec) Name() string { return "raw" }
func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("raw codec: %T is not []byte", v)
	}
	return b, nil
}
func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: %T is not *[]byte", v)
	}
	*p = data
	return nil
}

// defaultCodec picks the codec of a result type when the user chose none:
// raw bytes for []byte, CBOR for everything else.
func defaultCodec[R any]() Codec {
	if reflect.TypeFor[R]() == reflect.TypeFor[[]byte]() {
		return rawCodec{}
	}
	return CBOR
}
