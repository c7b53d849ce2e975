package pcache

import (
	"encoding"
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

// TypeChecker is implemented by a Codec that can tell at Wrap time whether
// it can store and decode back values of a result type; Wrap refuses a type
// it rejects, before any work is done.
type TypeChecker interface {
	CheckType(t reflect.Type) error
}

// CBOR is the default result codec: deterministic CBOR (sorted maps, so equal
// results are stored once) with nanosecond times, decoding into a fresh value
// on every hit.
//
// It stores exported struct fields (named by their cbor or json tags),
// slices, arrays, maps, pointers, strings, bools, integers, floats,
// time.Time (as RFC 3339 text with nanoseconds and the zone offset; the
// zone's name is not kept), math/big numbers, and types with
// MarshalCBOR/UnmarshalCBOR or MarshalBinary/UnmarshalBinary methods. Wrap
// refuses result types holding a chan, func, complex number, uintptr or
// unsafe pointer, an interface other than any, or an unexported struct
// field, naming the field.
//
// Inside a value of type any, what comes back is CBOR's generic form:
// unsigned integers as uint64, negative ones as int64, floats as float64,
// text as string, byte strings as []byte, arrays as []any, maps as
// map[any]any, and times as their RFC 3339 text. A miss returns the same,
// since it returns the decoded copy of what it stored; give fields concrete
// types to get concrete values back.
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

// CheckType refuses result types the CBOR codec cannot round-trip.
func (cborCodec) CheckType(t reflect.Type) error {
	return checkCBORType(t, t.String(), map[reflect.Type]bool{})
}

var (
	cborMarshaler     = reflect.TypeFor[cbor.Marshaler]()
	cborUnmarshaler   = reflect.TypeFor[cbor.Unmarshaler]()
	binaryMarshaler   = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshaler = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// opaque reports whether t encodes through its own methods (and then
// whether it decodes back through them too).
func opaque(t reflect.Type) (is, ok bool) {
	pt := reflect.PointerTo(t)
	switch {
	case t.Implements(cborMarshaler) || pt.Implements(cborMarshaler):
		return true, pt.Implements(cborUnmarshaler)
	case t.Implements(binaryMarshaler) || pt.Implements(binaryMarshaler):
		return true, pt.Implements(binaryUnmarshaler)
	}
	return false, false
}

func checkCBORType(t reflect.Type, path string, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	if is, ok := opaque(t); is {
		if !ok {
			return fmt.Errorf("%s (%v) has a marshal method but no matching unmarshal method, so it cannot be decoded back", path, t)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.Complex64, reflect.Complex128, reflect.Uintptr, reflect.UnsafePointer:
		return fmt.Errorf("%s (%v): a %v cannot be stored", path, t, t.Kind())
	case reflect.Interface:
		if t.NumMethod() > 0 {
			return fmt.Errorf("%s (%v): an interface other than any cannot be decoded back", path, t)
		}
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return checkCBORType(t.Elem(), path+"[*]", seen)
	case reflect.Map:
		if err := checkCBORType(t.Key(), path+"[key]", seen); err != nil {
			return err
		}
		return checkCBORType(t.Elem(), path+"[*]", seen)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Tag.Get("cbor") == "-" || (f.Tag.Get("cbor") == "" && f.Tag.Get("json") == "-") {
				continue // never stored: zero on a miss and on a hit alike
			}
			fp := path + "." + f.Name
			if !f.IsExported() {
				if f.Anonymous && indirectStruct(f.Type) {
					// An embedded unexported struct: its exported fields are
					// promoted and stored.
					if err := checkCBORType(f.Type, fp, seen); err != nil {
						return err
					}
					continue
				}
				if f.Name == "_" {
					continue
				}
				return fmt.Errorf("%s: unexported field %s (%v) would be lost: a hit could not return it; export it, tag it cbor:\"-\", or give %v MarshalCBOR/UnmarshalCBOR methods", path, f.Name, f.Type, t)
			}
			if err := checkCBORType(f.Type, fp, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

func indirectStruct(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// rawCodec stores a []byte result as the object's bytes, so a hit is one
// verified read.
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
