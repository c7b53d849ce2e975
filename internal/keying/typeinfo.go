package keying

import (
	"encoding"
	"math/big"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// kind is how the encoder treats a Go type; it is computed once per type.
type kind uint8

const (
	kBad       kind = iota + 1 // can never be keyed: typeInfo.bad says why
	kBool                      // CBOR true/false
	kInt                       // signed integer kinds
	kUint                      // unsigned integer kinds (not uintptr)
	kFloat                     // float32, float64
	kString                    // text string (byte string if not UTF-8)
	kBytes                     // []byte-like slice or [N]byte array: byte string
	kTyped                     // other numeric slice or array: RFC 8746 typed array
	kSeq                       // any other slice or array: CBOR array
	kMap                       // CBOR map with sorted keys
	kStruct                    // CBOR map of field name → value
	kPtr                       // followed; nil is null
	kIface                     // dynamic value; nil is null
	kHasher                    // value-receiver KeyHasher
	kHasherPtr                 // pointer-receiver KeyHasher
	kText                      // value-receiver encoding.TextMarshaler
	kTextPtr                   // pointer-receiver encoding.TextMarshaler
	kTime                      // time.Time
	kBigInt                    // big.Int
	kBigFloat                  // big.Float
	kBigRat                    // big.Rat
)

// typeInfo is everything the encoder needs to know about one Go type. Once
// published in infoCache it is immutable (apart from the lazily computed zero
// encodings in fieldInfo, guarded by sync.Once).
type typeInfo struct {
	t       reflect.Type
	kind    kind
	bad     string      // kBad: the reason
	isArray bool        // kBytes, kTyped, kSeq: t is an array type
	elem    *typeInfo   // kTyped, kSeq, kMap, kPtr: the element type
	key     *typeInfo   // kMap: the key type
	ta      typedArray  // kTyped
	st      *structInfo // kStruct
	plain   bool        // behind an interface, values of t are encoded as they are (R1)
	dynHead []byte      // behind an interface, the head 27([name, … that goes before a value of t that is not plain
}

// typedArray describes how a numeric slice or array becomes an RFC 8746 typed
// array.
type typedArray struct {
	tag     uint64       // RFC 8746 tag (little-endian forms)
	width   int          // bytes per element in the encoding
	srcSize int          // bytes per element in memory
	kind    reflect.Kind // element kind
}

var (
	keyHasherType     = reflect.TypeFor[KeyHasher]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	timeType          = reflect.TypeFor[time.Time]()
	bigIntType        = reflect.TypeFor[big.Int]()
	bigFloatType      = reflect.TypeFor[big.Float]()
	bigRatType        = reflect.TypeFor[big.Rat]()

	infoCache sync.Map   // reflect.Type → *typeInfo, complete infos only
	infoMu    sync.Mutex // serialises building
)

// infoOf returns the (cached) typeInfo of t.
func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := infoCache.Load(t); ok {
		return ti.(*typeInfo)
	}
	infoMu.Lock()
	defer infoMu.Unlock()
	pending := map[reflect.Type]*typeInfo{}
	ti := buildInfo(t, pending)
	for k, v := range pending {
		infoCache.Store(k, v)
	}
	return ti
}

// buildInfo builds t's info and those of the types it refers to; infos under
// construction live in pending, so recursive types terminate.
func buildInfo(t reflect.Type, pending map[reflect.Type]*typeInfo) *typeInfo {
	if ti, ok := infoCache.Load(t); ok {
		return ti.(*typeInfo)
	}
	if ti, ok := pending[t]; ok {
		return ti
	}
	ti := &typeInfo{t: t}
	pending[t] = ti
	ti.kind, ti.bad = classify(t)
	ti.plain = plainTypes[t] || ti.kind == kHasher || ti.kind == kHasherPtr
	ti.dynHead = appendText(append(appendHead(nil, majTag, tagTypedValue), majArray|2), goTypeName(t))
	switch ti.kind {
	case kTyped:
		ti.isArray = t.Kind() == reflect.Array
		ti.ta = typedArrayOf(t.Elem())
	case kBytes:
		ti.isArray = t.Kind() == reflect.Array
	case kSeq:
		ti.isArray = t.Kind() == reflect.Array
		ti.elem = buildInfo(t.Elem(), pending)
	case kPtr:
		ti.elem = buildInfo(t.Elem(), pending)
	case kMap:
		ti.key = buildInfo(t.Key(), pending)
		ti.elem = buildInfo(t.Elem(), pending)
	case kStruct:
		ti.st = buildStruct(t, pending)
	}
	return ti
}

// plainTypes are the types that a value behind an interface may have and
// still be encoded as it is (R1): the one type each plain encoding stands
// for. A value of any other type is tagged with its type's name.
var plainTypes = func() map[reflect.Type]bool {
	m := map[reflect.Type]bool{}
	for _, t := range []reflect.Type{
		reflect.TypeFor[bool](), reflect.TypeFor[int](), reflect.TypeFor[float64](),
		reflect.TypeFor[string](), reflect.TypeFor[[]byte](), reflect.TypeFor[[]any](),
		reflect.TypeFor[map[string]any](), timeType,
		reflect.TypeFor[[]int8](), reflect.TypeFor[[]int16](), reflect.TypeFor[[]int32](),
		reflect.TypeFor[[]int](), reflect.TypeFor[[]uint16](), reflect.TypeFor[[]uint32](),
		reflect.TypeFor[[]uint64](), reflect.TypeFor[[]float32](), reflect.TypeFor[[]float64](),
	} {
		m[t] = true
	}
	return m
}()

// goTypeName names t in a 27([name, value]) item: PkgPath.Name for a defined
// type ("time.Duration", "github.com/x/y.Mode"), the bare name for a
// predeclared one ("int64"), and for other types their composition ("[]int64",
// "*github.com/x/y.T", "map[string]int", "[4]uint8"), or reflect's String
// (unnamed struct, interface and func types).
func goTypeName(t reflect.Type) string {
	if name := t.Name(); name != "" {
		if t.PkgPath() == "" {
			return name
		}
		return t.PkgPath() + "." + name
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + goTypeName(t.Elem())
	case reflect.Slice:
		return "[]" + goTypeName(t.Elem())
	case reflect.Array:
		return "[" + strconv.Itoa(t.Len()) + "]" + goTypeName(t.Elem())
	case reflect.Map:
		return "map[" + goTypeName(t.Key()) + "]" + goTypeName(t.Elem())
	}
	return t.String()
}

// classify decides a type's kind. The order is the spec's precedence:
// interface, pointer, KeyHasher, time and math/big types, TextMarshaler, then
// the reflect kind.
func classify(t reflect.Type) (kind, string) {
	switch t.Kind() {
	case reflect.Interface:
		return kIface, ""
	case reflect.Pointer:
		return kPtr, ""
	}
	if ptr, ok := ownMethod(t, keyHasherType, "CacheKey"); ok {
		if ptr {
			return kHasherPtr, ""
		}
		return kHasher, ""
	}
	switch t {
	case timeType:
		return kTime, ""
	case bigIntType:
		return kBigInt, ""
	case bigFloatType:
		return kBigFloat, ""
	case bigRatType:
		return kBigRat, ""
	}
	if ptr, ok := ownMethod(t, textMarshalerType, "MarshalText"); ok {
		if ptr {
			return kTextPtr, ""
		}
		return kText, ""
	}
	switch t.Kind() {
	case reflect.Bool:
		return kBool, ""
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kInt, ""
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return kUint, ""
	case reflect.Float32, reflect.Float64:
		return kFloat, ""
	case reflect.String:
		return kString, ""
	case reflect.Slice, reflect.Array:
		et := t.Elem()
		switch et.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			// Only scalar element kinds get here, so classify does not recurse.
			switch ek, _ := classify(et); {
			case ek == kUint && et.Kind() == reflect.Uint8:
				return kBytes, ""
			case ek == kInt || ek == kUint || ek == kFloat:
				return kTyped, ""
			}
		}
		return kSeq, ""
	case reflect.Map:
		return kMap, ""
	case reflect.Struct:
		return kStruct, ""
	case reflect.Func:
		return kBad, "funcs cannot be keyed"
	case reflect.Chan:
		return kBad, "channels cannot be keyed"
	case reflect.UnsafePointer:
		return kBad, "unsafe pointers cannot be keyed"
	case reflect.Uintptr:
		return kBad, "uintptrs cannot be keyed (they usually hold addresses)"
	case reflect.Complex64, reflect.Complex128:
		return kBad, "complex numbers cannot be keyed (key them with MapArg or a CacheKey method)"
	}
	return kBad, "values of kind " + t.Kind().String() + " cannot be keyed"
}

// ownMethod reports whether t (ptr false) or *t (ptr true) implements iface
// through a method t declares itself. A method promoted from an embedded
// field does not count: keying a struct by the CacheKey or MarshalText of one
// embedded field would silently drop all its other fields (the classic
// struct{ time.Time; Name string } trap), so such structs are keyed field by
// field instead.
func ownMethod(t reflect.Type, iface reflect.Type, name string) (ptr, ok bool) {
	var mt reflect.Type
	switch {
	case t.Implements(iface):
		mt = t
	case reflect.PointerTo(t).Implements(iface):
		mt, ptr = reflect.PointerTo(t), true
	default:
		return false, false
	}
	if t.Kind() == reflect.Struct && promoted(t, mt, iface, name) {
		return false, false
	}
	return ptr, true
}

// promoted reports whether mt's method name is (or may be) promoted from an
// embedded field of the struct type t rather than declared by t. Promoted
// methods are compiler-generated wrappers, which the runtime reports as
// "<autogenerated>"; when that cannot be told, a method that an embedded
// field also has counts as promoted (the safe side: keying field by field
// never drops data).
func promoted(t, mt, iface reflect.Type, name string) bool {
	embedded := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && (f.Type.Implements(iface) || f.Type.Kind() != reflect.Pointer && reflect.PointerTo(f.Type).Implements(iface)) {
			embedded = true
			break
		}
	}
	if !embedded {
		return false
	}
	m, ok := mt.MethodByName(name)
	if !ok {
		return true
	}
	pc := m.Func.Pointer()
	fn := runtime.FuncForPC(pc)
	if fn == nil {
		return true
	}
	file, _ := fn.FileLine(pc)
	return file == "<autogenerated>"
}

// typedArrayOf gives the RFC 8746 form of slices with numeric element type et.
// int and uint always use 64-bit elements, so keys do not depend on the
// platform's word size.
func typedArrayOf(et reflect.Type) typedArray {
	ta := typedArray{kind: et.Kind(), srcSize: int(et.Size())}
	switch et.Kind() {
	case reflect.Int8:
		ta.tag, ta.width = tagSint8, 1
	case reflect.Int16:
		ta.tag, ta.width = tagSint16LE, 2
	case reflect.Int32:
		ta.tag, ta.width = tagSint32LE, 4
	case reflect.Int64, reflect.Int:
		ta.tag, ta.width = tagSint64LE, 8
	case reflect.Uint16:
		ta.tag, ta.width = tagUint16LE, 2
	case reflect.Uint32:
		ta.tag, ta.width = tagUint32LE, 4
	case reflect.Uint64, reflect.Uint:
		ta.tag, ta.width = tagUint64LE, 8
	case reflect.Float32:
		ta.tag, ta.width = tagFloat32LE, 4
	case reflect.Float64:
		ta.tag, ta.width = tagFloat64LE, 8
	}
	return ta
}

// addressable returns an addressable copy of v (or v itself when it already
// is), so that pointer-receiver methods and unexported fields can be reached.
func addressable(v reflect.Value) reflect.Value {
	if v.CanAddr() {
		return v
	}
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	return c
}

// ownCopy returns an addressable copy of v that is keying's own: a
// pointer-receiver method (CacheKey, MarshalText) is called on it, never on
// the caller's memory, even when v is addressable (a batch keys its
// elements in place), so a method that changes its receiver changes no
// argument.
func ownCopy(v reflect.Value) reflect.Value {
	src := v
	if v.CanAddr() {
		src = exposed(v) // reached through an unexported field, v itself cannot be copied from
	}
	c := reflect.New(v.Type()).Elem()
	c.Set(src)
	return c
}

// exposed returns a read-write view of the addressable value v, which may
// have been reached through an unexported field. keying only ever reads
// through it.
func exposed(v reflect.Value) reflect.Value {
	return reflect.NewAt(v.Type(), v.Addr().UnsafePointer()).Elem()
}

// littleEndian reports whether this machine stores integers little-endian.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
