// Package codec holds the result codecs: deterministic CBOR (numeric
// slices as RFC 8746 typed arrays) and raw bytes.
package codec

import (
	"encoding"
	"fmt"
	"math/big"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Codec encodes and decodes results: the method set of the root package's
// Codec, which the engine takes values of.
type Codec interface {
	Name() string
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// TypeChecker is implemented by a Codec that can tell at Wrap time whether
// it can store and decode back values of a result type.
type TypeChecker interface {
	CheckType(t reflect.Type) error
}

// CBOR is the default result codec (the root package's CBOR documents what
// it stores): deterministic CBOR with nanosecond times, decoding into a
// fresh value on every hit.
type CBOR struct{}

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
			// A Go string holds any bytes, and the encoder writes them as
			// they are: decode them as they are. (No entry with such text
			// was ever stored before: it did not decode back, so it was
			// refused. Valid text decodes as it always did.)
			UTF8: cbor.UTF8DecodeInvalid,
		}.DecMode()
		if err != nil {
			panic(err) // static options
		}
		return m
	}()
)

func (CBOR) Name() string                  { return "cbor" }
func (CBOR) Marshal(v any) ([]byte, error) { return resultEnc.Marshal(v) }

func (CBOR) Unmarshal(data []byte, v any) error {
	if err := resultDec.Unmarshal(data, v); err != nil {
		return err
	}
	if p := reflect.ValueOf(v); p.Kind() == reflect.Pointer && !p.IsNil() {
		textMaps(p.Elem(), anyHolders(p.Elem().Type()))
	}
	return nil
}

// CheckType refuses result types the CBOR codec cannot round-trip.
func (CBOR) CheckType(t reflect.Type) error {
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

var (
	bigIntType   = reflect.TypeFor[big.Int]()
	bigFloatType = reflect.TypeFor[big.Float]()
	bigRatType   = reflect.TypeFor[big.Rat]()
)

func checkCBORType(t reflect.Type, path string, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	switch t {
	case bigIntType:
		return nil // the codec's own: CBOR integers and bignums (tags 2 and 3)
	case bigFloatType, bigRatType:
		return fmt.Errorf("%s (%v) cannot be stored by the CBOR codec; store its text (the String or Text method) and parse it back, or choose another codec with WithCodec", path, t)
	}
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
				if standard(t.PkgPath()) {
					// Not the user's type: no method can be added to it.
					return fmt.Errorf("%s (%v, from the standard library) cannot be stored: its field %s is unexported, so a hit could not return it; store what you need of it in a type of your own, tag the field holding it cbor:\"-\", or choose another codec with WithCodec", path, t, f.Name)
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

// standard reports whether pkg (a type's PkgPath) is a package of the
// standard library: its first element has no dot, and no module of the
// build provides it.
func standard(pkg string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	if pkg == "" || pkg == "main" || strings.Contains(first, ".") {
		return false
	}
	for _, m := range buildModules() {
		if pkg == m || strings.HasPrefix(pkg, m+"/") {
			return false
		}
	}
	return true
}

// buildModules lists the paths of the modules linked into this program.
var buildModules = sync.OnceValue(func() []string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	var ms []string
	if bi.Main.Path != "" {
		ms = append(ms, bi.Main.Path)
	}
	for _, d := range bi.Deps {
		ms = append(ms, d.Path)
	}
	return ms
})

func indirectStruct(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// anyHolders returns the types reachable from t (through pointers, slices,
// arrays, map values and struct fields; not into types the codec encodes by
// their own methods) from which a value of type any is reachable: the
// parts of a decoded t that textMaps must look into. Computed once per
// type.
func anyHolders(t reflect.Type) map[reflect.Type]bool {
	if h, ok := holdersCache.Load(t); ok {
		return h.(map[reflect.Type]bool)
	}
	edges := map[reflect.Type][]reflect.Type{}
	var visit func(reflect.Type)
	visit = func(t reflect.Type) {
		if _, ok := edges[t]; ok {
			return
		}
		var next []reflect.Type
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			next = []reflect.Type{t.Elem()}
		case reflect.Struct:
			for i := 0; i < t.NumField(); i++ {
				next = append(next, t.Field(i).Type)
			}
		}
		if is, _ := opaque(t); is || t == bigIntType {
			next = nil // decoded by its own method, or as a number: left as it is
		}
		edges[t] = next
		for _, n := range next {
			visit(n)
		}
	}
	visit(t)
	holds := map[reflect.Type]bool{}
	for u := range edges {
		if u.Kind() == reflect.Interface && u.NumMethod() == 0 {
			holds[u] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for u, next := range edges {
			if holds[u] {
				continue
			}
			for _, n := range next {
				if holds[n] {
					holds[u], changed = true, true
					break
				}
			}
		}
	}
	h, _ := holdersCache.LoadOrStore(t, holds)
	return h.(map[reflect.Type]bool)
}

var holdersCache sync.Map // reflect.Type → map[reflect.Type]bool

// textMaps replaces, in every value of type any inside the decoded value v,
// each map[any]any whose keys are all strings with the equal
// map[string]any: how a CBOR map with text keys comes back inside any (see
// CBOR). holders is anyHolders of v's type.
func textMaps(v reflect.Value, holders map[reflect.Type]bool) {
	if !holders[v.Type()] {
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() && v.CanSet() {
			v.Set(reflect.ValueOf(genericTextMaps(v.Interface())))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			textMaps(v.Elem(), holders)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			textMaps(v.Index(i), holders)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			textMaps(v.Field(i), holders)
		}
	case reflect.Map:
		if v.Len() == 0 || !v.CanSet() {
			return
		}
		e := reflect.New(v.Type().Elem()).Elem()
		for it := v.MapRange(); it.Next(); {
			e.Set(it.Value())
			textMaps(e, holders)
			v.SetMapIndex(it.Key(), e) // an existing key: the iteration is not disturbed
		}
	}
}

// genericTextMaps is textMaps for a value in CBOR's generic form.
func genericTextMaps(x any) any {
	switch x := x.(type) {
	case []any:
		for i, e := range x {
			x[i] = genericTextMaps(e)
		}
	case map[any]any:
		text := true
		for k, e := range x {
			x[k] = genericTextMaps(e)
			_, ok := k.(string)
			text = text && ok
		}
		if !text {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k.(string)] = e
		}
		return m
	case cbor.Tag:
		x.Content = genericTextMaps(x.Content)
		return x
	}
	return x
}

// Raw stores a []byte result as the object's bytes, so a hit is one
// verified read. A nil result is stored as the empty object under the
// entry codec name RawNil (see entryCodec), so that it comes back nil while
// an empty one comes back empty.
type Raw struct{}

// RawNil is the codec name recorded with an entry whose result is a nil
// []byte stored by Raw. Entries recorded as "raw" decode to a non-nil
// slice, as they always did.
const RawNil = "raw-nil"

func (Raw) Name() string { return "raw" }
func (Raw) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("raw codec: %T is not []byte", v)
	}
	return b, nil
}
func (Raw) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: %T is not *[]byte", v)
	}
	*p = data // nil stays nil (entryData gives the bytes of an entry)
	return nil
}

// For picks the codec of result type t when the user chose none: raw
// bytes for []byte, a typed array for a slice of fixed-size numbers, CBOR
// for everything else.
func For(t reflect.Type) Codec {
	if t == reflect.TypeFor[[]byte]() {
		return Raw{}
	}
	if c := NumericFor(t); c != nil {
		return c
	}
	return CBOR{}
}
