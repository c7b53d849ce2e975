package keying

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/fxamacker/cbor/v2"
	"github.com/zeebo/blake3"
)

// ResultShapeFormat is the version of the result-shape description: the
// second element of every ResultShape array. It changes whenever any rule F1
// … F11 of the package doc changes.
const ResultShapeFormat = 1

// resultShapeMagic is the first element of every ResultShape array.
const resultShapeMagic = "pcache-result-shape"

var (
	cborMarshalerType   = reflect.TypeFor[cbor.Marshaler]()
	binaryMarshalerType = reflect.TypeFor[encoding.BinaryMarshaler]()
	jsonMarshalerType   = reflect.TypeFor[json.Marshaler]()
	cborTagType         = reflect.TypeFor[cbor.Tag]()

	// opaqueMarshalers are the interfaces whose method makes a type's result
	// encoding its own (F3).
	opaqueMarshalers = []reflect.Type{cborMarshalerType, binaryMarshalerType, textMarshalerType, jsonMarshalerType}

	shapeCache sync.Map // reflect.Type → []byte, the ResultShape of the type
)

// ResultShape returns the canonical description of the shape of result type
// t: the canonical CBOR encoding (the conventions of keys: core
// deterministic, shortest heads, definite lengths) of the array
// ["pcache-result-shape", ResultShapeFormat, shape], where shape is given by
// rules F1 … F11 of the package doc. The shape is the same in every build and
// on every OS and architecture; it does not contain the names of ordinary Go
// types (renaming or moving a struct type keeps its shape), only what the
// result codec's encoding of values of t depends on. A nil t has the shape
// "nil". ResultShape never fails and never panics; the returned slice is the
// caller's.
func ResultShape(t reflect.Type) []byte {
	if t != nil {
		if b, ok := shapeCache.Load(t); ok {
			return slices.Clone(b.([]byte))
		}
	}
	b := appendHead(nil, majArray, 3)
	b = appendText(b, resultShapeMagic)
	b = appendHead(b, majUint, ResultShapeFormat)
	b = appendShape(b, t, nil, false)
	if t != nil {
		shapeCache.Store(t, slices.Clone(b))
	}
	return b
}

// Fingerprint identifies a result type's shape: the BLAKE3-256 of its
// ResultShape.
type Fingerprint [32]byte

// ResultFingerprint returns the BLAKE3-256 of ResultShape(t). The cache
// records it with every entry, so that an entry whose result type has since
// changed shape is a miss, never a decode into the new type. It never fails
// and never panics.
func ResultFingerprint(t reflect.Type) Fingerprint {
	return blake3.Sum256(ResultShape(t))
}

// appendShape appends the shape of t (F2 … F11). stack holds the types
// being described around t, outermost first (F2). ordered says that t is
// the type of an embedded field of a struct whose fields are in declaration
// order (F11), so a struct t lists its fields in that order too.
func appendShape(b []byte, t reflect.Type, stack []reflect.Type, ordered bool) []byte {
	if t == nil {
		return appendText(b, "nil")
	}
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i] == t {
			b = appendHead(b, majArray, 2)
			b = appendText(b, "ref")
			return appendHead(b, majUint, uint64(len(stack)-i))
		}
	}
	if isOpaqueResult(t) {
		name := t.String()
		if t.Name() != "" {
			name = t.PkgPath() + "." + t.Name()
		}
		b = appendHead(b, majArray, 2)
		b = appendText(b, "named")
		return appendText(b, name)
	}
	switch t.Kind() {
	case reflect.Pointer:
		b = appendHead(b, majArray, 2)
		b = appendText(b, "ptr")
		return appendShape(b, t.Elem(), append(stack, t), ordered)
	case reflect.Slice:
		b = appendHead(b, majArray, 2)
		b = appendText(b, "slice")
		return appendShape(b, t.Elem(), append(stack, t), false)
	case reflect.Array:
		b = appendHead(b, majArray, 3)
		b = appendText(b, "array")
		b = appendHead(b, majUint, uint64(t.Len()))
		return appendShape(b, t.Elem(), append(stack, t), false)
	case reflect.Map:
		inner := append(stack, t)
		b = appendHead(b, majArray, 3)
		b = appendText(b, "map")
		b = appendShape(b, t.Key(), inner, false)
		return appendShape(b, t.Elem(), inner, false)
	case reflect.Interface:
		names := make([]string, t.NumMethod())
		for i := range names {
			names[i] = t.Method(i).Name
		}
		slices.Sort(names)
		b = appendHead(b, majArray, 2)
		b = appendText(b, "interface")
		b = appendHead(b, majArray, uint64(len(names)))
		for _, n := range names {
			b = appendText(b, n)
		}
		return b
	case reflect.Struct:
		return appendStructShape(b, t, append(stack, t), ordered)
	}
	// F4: bool, the integer, float and complex kinds, string, uintptr,
	// unsafe.Pointer, chan and func.
	return appendText(b, t.Kind().String())
}

// structField is one field's entry in a struct shape while the entries are
// sorted.
type structField struct {
	name string
	enc  []byte // the encoded entry [name, cborTag, jsonTag, flags, shape]
}

// appendStructShape appends ["struct", fields] for the struct type t, which
// is the last type of stack (F10, F11).
func appendStructShape(b []byte, t reflect.Type, stack []reflect.Type, ordered bool) []byte {
	ordered = ordered || isArrayStruct(t)
	fields := make([]structField, t.NumField())
	for i := range fields {
		sf := t.Field(i)
		var flags uint64
		if sf.Anonymous {
			flags |= 1
		}
		if !sf.IsExported() {
			flags |= 2
		}
		e := appendHead(nil, majArray, 5)
		e = appendText(e, sf.Name)
		e = appendText(e, sf.Tag.Get("cbor"))
		e = appendText(e, sf.Tag.Get("json"))
		e = appendHead(e, majUint, flags)
		e = appendShape(e, sf.Type, stack, ordered && sf.Anonymous)
		fields[i] = structField{sf.Name, e}
	}
	if !ordered {
		slices.SortStableFunc(fields, func(x, y structField) int {
			if c := strings.Compare(x.name, y.name); c != 0 {
				return c
			}
			return bytes.Compare(x.enc, y.enc) // several blank (_) fields
		})
	}
	b = appendHead(b, majArray, 2)
	b = appendText(b, "struct")
	b = appendHead(b, majArray, uint64(len(fields)))
	for _, f := range fields {
		b = append(b, f.enc...)
	}
	return b
}

// isOpaqueResult reports whether the result codec encodes values of t by
// t's own methods or as a special type (F3): *t has a MarshalCBOR,
// MarshalBinary, MarshalText or MarshalJSON method with the standard
// signature func() ([]byte, error), or t is time.Time, big.Int, big.Float,
// big.Rat or cbor.Tag. Pointer and interface types never are (*t has no
// methods for them).
func isOpaqueResult(t reflect.Type) bool {
	switch t {
	case timeType, bigIntType, bigFloatType, bigRatType, cborTagType:
		return true
	}
	if t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface {
		return false
	}
	pt := reflect.PointerTo(t)
	for _, m := range opaqueMarshalers {
		if pt.Implements(m) {
			return true
		}
	}
	return false
}

// isArrayStruct reports whether the result codec encodes the struct type t as
// a CBOR array of its fields in declaration order: t has a field named _
// whose cbor tag has the toarray or toindefarray option (F11).
func isArrayStruct(t reflect.Type) bool {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Name != "_" {
			continue
		}
		tag := sf.Tag.Get("cbor")
		return hasTagOption(tag, "toarray") || hasTagOption(tag, "toindefarray")
	}
	return false
}

// hasTagOption reports whether the struct tag value tag has option opt after
// its name: "name,opt" or "name,x,opt,y".
func hasTagOption(tag, opt string) bool {
	parts := strings.Split(tag, ",")
	return slices.Contains(parts[1:], opt)
}
