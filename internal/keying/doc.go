// Package keying turns Go values into canonical, platform-independent cache
// keys: one logical value, the same bytes on every OS, CPU and pcache version.
//
// StableHash hashes the canonical encoding of any keyable value. Compile and
// Plan.Key turn a wrapped function's argument value into the key of one call,
// applying per-argument rules (pcache struct tags or Rules). Diagnose renders
// key bytes for people. ResultShape and ResultFingerprint describe a result
// type, so that a cache never decodes an entry into a type of another shape.
//
// This comment is the specification of key format 1 (KeyFormat), revision
// 2, and of result-shape format 1 (ResultShapeFormat). It is meant to be
// precise enough to re-implement in another language; the golden vectors in
// testdata/golden.txt and testdata/fingerprints.txt pin it. Any change to
// the bytes produced for any value requires a new KeyFormat, or a documented
// revision (see Revisions) when it only splits keys that merged values a
// function can tell apart; any change to a shape requires a new
// ResultShapeFormat. Never a silent change.
//
// # The canonical encoding
//
// The canonical encoding of a Go value is one CBOR data item (RFC 8949) in
// core deterministic encoding (RFC 8949 §4.2.1): every head (major type and
// argument) is in its shortest form, all lengths are definite, map entries are
// sorted by the bytewise lexicographic order of their encoded keys, and no
// map has two keys with the same encoding. keying builds it with its own walk
// over reflect; it does not use a general CBOR encoder's struct or map rules.
//
// The item for a value v whose static type is T is given by the first of the
// rules R1 … R16 below that applies to T.
//
// R1. Interface types. A nil interface is null (0xf6). Otherwise v's dynamic
// value x is encoded by these rules, starting over from its dynamic type D,
// and D is encoded too unless it is the plain type of x's encoding, so
// that values of two dynamic types never key alike (a function tells them
// apart with a type switch or %T). The plain types are bool, int, float64,
// string (when the value is valid UTF-8), []byte, []any,
// map[string]any, time.Time, the numeric slices []int8, []int16, []int32,
// []int, []uint16, []uint32, []uint64, []float32 and []float64, and types
// that declare CacheKey (R3): each is the one such type whose values can
// have its encodings. A value of any other type (int64, uint8, float32,
// time.Duration, a named string, a pointer, a struct, []string,
// map[string]int, [2]int, a TextMarshaler, an invalid UTF-8 string, ...)
// is tag 27 over [name, x], with name the text string naming D: PkgPath +
// "." + Name for a defined type ("time.Duration",
// "github.com/x/y.Mode"), the bare name of a predeclared type ("int64"),
// "*", "[]", "[N]" or "map[K]" followed by the names of the element (and
// key) type for unnamed pointer, slice, array and map types
// ("*int", "[]string", "map[string]int"), and reflect's String for other
// unnamed types. So any(int64(1)) is d81b 82 65 696e743634 01, any(1) is
// 01. A type with CacheKey is keyed by what CacheKey returns, unmarked: its
// author decides what tells its values from others. The value of
// StableHash, of a CacheKey method and of a MapArg function is encoded by
// its own dynamic type, not as held in an interface: StableHash(int32(3))
// is 03. When the argument type of a Plan is an interface type, the
// argument is held in that interface: Plan.Key(v, int64(1)) has args
// d81b8265696e74363401.
//
// R2. Pointer types. A nil pointer is null; otherwise the pointee is encoded.
// A nil pointer is null even when the pointer type has a CacheKey or
// MarshalText method: the method is never called on nil.
//
// R3. KeyHasher. When T declares a CacheKey method (with a value or a pointer
// receiver; for a pointer receiver on a value that is not addressable, a
// copy is used), v is the encoding of the value CacheKey returns. The
// result is not marked in any way: a CacheKey returning "x" keys exactly
// like the string "x".
//
// R4. time.Time: tag 1001 (RFC 9581 extended time) over a map
// {1: s, -9: ns, "zone": [offset, abbreviation, location]}, where s =
// t.Unix() is an integer (R8) and ns = t.Nanosecond(); the -9 entry is left
// out when ns is 0. The "zone" entry is left out when the time shows UTC
// (t.Zone() returns "UTC" and 0: time.UTC, a Local zone that is UTC,
// FixedZone("UTC", 0)) and when the time is keyed by its instant
// (RuleInstant, [,instant]); otherwise it holds the offset in seconds east
// of UTC (R8) and the abbreviation (R10) that t.Zone() returns, and the
// name of t.Location() (R10), so a time keys apart from the same instant in
// another zone (t.Format and t.Hour tell them apart). For example
// time.Unix(5, 7).UTC() is d9 03e9 a2 01 05 28 07, and time.Unix(-1,
// 0).In(time.FixedZone("X", 3600)) is d9 03e9 a2 01 20 64 "zone" 83 19 0e10
// 61 "X" 61 "X". The monotonic clock reading is not encoded. A Local time
// keys by the machine's zone: "Local" names the location, as Go does.
//
// R5. math/big. A big.Int is an integer by R8 when it lies in
// [-2^64, 2^64-1], and otherwise a bignum: tag 2 over the big-endian
// bytes of x without leading zeros for x > 0, tag 3 over those of -1-x for
// x < 0 (RFC 8949 §3.4.3). A big.Float is the float +Inf or -Inf (R9)
// when infinite, 5([0, 0]) when zero (of either sign), and otherwise the
// bigfloat 5([e, m]) (RFC 8949 §3.4.4) with value m·2^e and m odd; e is
// an integer and m is encoded like a big.Int. The precision, accuracy and
// rounding mode of a big.Float are not encoded. A big.Rat is 30([n, d])
// with n/d in lowest terms and d ≥ 1, each encoded like a big.Int.
//
// R6. encoding.TextMarshaler. When T declares MarshalText (value or pointer
// receiver, as in R3), v is the text it returns, encoded as a Go
// string (R10). So a netip.Addr keys as "10.0.0.1".
//
// R7. bool: false is 0xf4, true is 0xf5.
//
// R8. Integers, every kind and width (int, int8 … int64, uint, uint8 …
// uint64): by value, major type 0 for n ≥ 0 and major type 1 (-1-n) for
// n < 0. int32(3), int64(3), uint8(3) and int(3) all encode as 0x03, on
// 32-bit and 64-bit platforms alike.
//
// R9. Floats (float32, float64): by value, in the shortest of binary16
// (0xf9), binary32 (0xfa) or binary64 (0xfb) that holds the value
// exactly. Every NaN is f9 7e00; +0 is f9 0000 and -0 is f9 8000 (they
// are == in Go, but 1/x tells them apart); +Inf is f9 7c00 and -Inf
// f9 fc00. float32(1.5) and 1.5 both
// encode as f9 3e00. A float never encodes like an integer: 1.0 is
// f9 3c00, 1 is 0x01.
//
// R10. Strings: a text string (major type 3) when the string is valid UTF-8,
// otherwise a byte string (major type 2) of the same bytes. No string is
// refused or altered.
//
// R11. Byte sequences: a slice or array whose element kind is uint8 (and
// whose element type matches none of R3 … R6) is a byte string. A nil
// slice is 0x40.
//
// R12. Numeric sequences: a slice or array whose element kind is one of the
// kinds below (and whose element type matches none of R3 … R6) is an
// RFC 8746 typed array: the tag below over one byte string holding the
// elements in order, each little-endian with the width below.
//
//	element kind    tag  bytes    element kind    tag  bytes
//	int8             72    1      uint16           69    2
//	int16            77    2      uint32           70    4
//	int32            78    4      uint64, uint     71    8
//	int64, int       79    8      float32          85    4
//	                              float64          86    8
//
// int and uint are always widened to 64 bits. In float arrays every NaN
// is replaced by the quiet NaN with zero payload (0x7ff8000000000000 for
// float64, 0x7fc00000 for float32); -0 keeps its sign bit. A nil slice is
// the tag over an empty byte string. Unlike scalars, the element width is
// part of a sequence's key: []int32{3}, []int64{3} and []any{3} are three
// different keys. Typed arrays let keying hash large numeric slices
// straight from their memory at BLAKE3 speed.
//
// R13. Other slices and arrays: a CBOR array of the elements in order. A nil
// slice is 0x80.
//
// R14. Maps: a CBOR map of the encoded keys and values, its entries sorted by
// the bytes of the encoded keys. When two keys of one map encode alike
// (two NaN keys, two pointers to equal values, two types whose CacheKey
// returns the same value) the map cannot be keyed. A nil map is 0xa0.
//
// Nil and empty (R11 … R14). An empty slice or map that is not nil is tag
// 7365445 (0x706345, "pcE") over the encoding a nil one has: []string{} is
// da00706345 80, []byte{} da00706345 40, []int{} da00706345 d84f 40,
// map[string]int{} da00706345 a0. A function tells them apart (s == nil,
// encoding/json writes null and []). Arrays are never nil: [0]int{} is
// d84f 40.
//
// R15. Structs: a CBOR map from field name (a string, R10) to field value,
// sorted like any map: as the length is in the head, names sort by
// length first and then bytewise ("B" < "aa" < "Zeta"), and the order of
// declaration does not matter. The fields are:
//
//   - Every field takes part, exported or not, except blank (_) fields,
//     fields tagged pcache:"-" and fields tagged pcache:",out". Unexported
//     fields are read through reflect: they are never dropped silently.
//   - A field's name is the name in its `pcache:"name"` tag, else its Go name.
//   - An embedded field of type S or *S with no pcache tag, where S is a
//     struct type keyed by R15, is promoted: S's fields appear in the outer
//     map as if declared there, recursively. Fields promoted through a nil
//     embedded pointer are absent. Other embedded fields are ordinary fields
//     named by their type's name.
//   - Two fields with the same name (including a promoted field and a
//     shallower field of the same name) make the struct unkeyable; rename
//     one with a tag or tag one "-".
//   - pcache:",omitzero": the field is absent while its encoding equals the
//     encoding of its type's zero value.
//   - pcache:",hash": the field's value is the byte string of the 32-byte
//     BLAKE3-256 of its canonical encoding (58 20 …).
//   - pcache:",string": the field's value is fmt.Sprint(value), as a string.
//   - pcache:",instant": every time.Time in the field's value is keyed by
//     its instant alone, without its zone (R4). The field's type must be
//     able to hold a time.Time (time.Time, an interface, a type with
//     CacheKey, or a pointer, slice, array, map or struct of such types).
//   - pcache:",out": the field must be a string; it is never encoded.
//   - Options follow the name, comma-separated, in any order. A tag has at
//     most one of hash, string, instant and out, and may add omitzero to
//     hash, string or instant (`pcache:",hash,omitzero"`,
//     `pcache:"name,omitzero,string"`):
//     the field is absent while its raw value encodes like its type's zero
//     value, and is otherwise hashed, stringified or keyed by instant. out takes no other
//     option. An unknown option, or an option given twice, is an error.
//   - The struct type's name and package are not encoded: two struct types
//     with the same field names and values key alike.
//   - A struct that has a CacheKey or MarshalText method only because it is
//     promoted from an embedded field is keyed field by field (R15), not by
//     that method, since the method would silently drop the other fields
//     (the struct{ time.Time; Name string } trap).
//
// R16. Everything else cannot be keyed: funcs, channels, unsafe.Pointer,
// uintptr (usually an address) and complex numbers, wherever they occur
// (nil or not), values that contain themselves through pointers, maps or
// slices, and values nested more than 10000 levels deep. These give an
// *Error (unwrapping to ErrUnkeyable) with the path and the type, such as
// `keying: Args.Items[3].Fn (func()): funcs cannot be keyed` — never a
// panic, never a fallback to fmt. A CacheKey or MarshalText method or a
// rule function that returns an error or panics gives an *Error too.
//
// # Keys of calls
//
// StableHash(v) is the lowercase hex BLAKE3-256 of the canonical encoding of
// v, and the hash of v its 32 bytes.
//
// Plan.Key(version, a) is the canonical encoding of the three-element array
// [KeyFormat, version, args] (0x83 0x01, then version as a string by
// R10, then args) and its BLAKE3-256. When the argument type A is a struct
// type keyed by R15, args is the map {argument name → value} built like
// R15, with the Plan's Rules and the tags applied: each field is one
// named argument, so every way of building the same struct gives the same
// key. Without Rules, args is exactly the canonical encoding of a. For any other A, args is
// the canonical encoding of a, and Rules are not allowed.
//
// Pointer arguments. When A is *S, a pointer type whose element S is a
// struct type keyed by R15 (so neither S nor *S has a CacheKey or
// MarshalText method of its own, and S is not time.Time or a math/big
// type), the plan is S's plan: the arguments are S's fields, and every tag
// and every Rule applies exactly as for S. Plan.Key(version, p) with a
// non-nil p is Plan.Key(version, *p) of S's plan, byte for byte (Hash, Bytes
// and Outs); a nil p has no arguments and is an error unwrapping to
// ErrNilArgument ("keying: argument is a nil *pkg.S"), never the key of null.
// Only one level of pointer is followed: **S, like any other type, is keyed
// as a whole (R2) and takes no Rules. Plan.Type is still *S. Without Rules, a
// non-nil *S keys as it did when such pointers were keyed as a whole (args
// is the canonical encoding of *p); unlike then, unexported fields of S must be tagged
// pcache:"-", as for S, and a nil *S is an error instead of the key of null.
//
// Each argument takes at most one drop rule (RuleDropIfEqual, RuleDropIf,
// [,omitzero]) and at most one key rule (RuleHash, RuleString, RuleMap,
// RuleInstant, [,hash], [,string], [,instant]); RuleIgnore [-] and RuleOut
// [,out] take no other rule.
// A tag and a Rule on one argument count as two rules. When an argument has
// both a drop rule and a key rule, the drop rule is evaluated on the raw
// field value: while it holds, the argument is absent from args; otherwise
// its value is the key rule's (Sum, fmt.Sprint or the encoding of Map) of the
// raw value. An argument with only a drop rule is keyed as it is when not
// dropped; one with only a key rule is always present. So an argument with a
// single rule keys as it always has.
//
// The rules, by argument name (tag form in brackets):
//
//   - RuleIgnore [pcache:"-"]: the argument is not part of the key and is
//     never read, so it costs nothing.
//   - RuleHash [,hash]: the argument's value is the 32-byte byte string
//     the BLAKE3-256 of the value's encoding, which keeps Key.Bytes small.
//   - RuleString [,string]: the value is fmt.Sprint(value). Beware of types
//     whose String shows a pointer address.
//   - RuleMap: the value is the encoding of Map(value).
//   - RuleInstant [,instant]: every time.Time in the value is keyed by its
//     instant alone (R4 without "zone"), so times that are Equal share an
//     entry whatever their zone. Compile refuses it for an argument whose
//     type cannot hold a time.Time.
//   - RuleDropIfEqual: the argument is absent while its encoding equals that
//     of Rule.Value converted to the argument's type (below); [,omitzero] is
//     RuleDropIfEqual with the zero value. This is how a new field joins an
//     argument struct without invalidating the entries stored before it
//     existed.
//   - RuleDropIf: the argument is absent while Pred(value) is true.
//   - RuleOut [,out]: the argument is an out-file path: a string that is not
//     part of the key, returned in Key.Outs.
//
// Map and Pred receive the field's raw value as an any. An error or a panic
// in them is an *Error naming the argument, never a crash.
//
// DropIfEqual values. Compile converts a RuleDropIfEqual's Value v to the
// argument's type T, so that DropIfEqual("Threshold", 0) on a float64 field
// compares with 0.0 (f9 0000), which a float64 can encode as, and not with
// the integer 0 (0x00), which it never does. The comparison is then with the
// canonical encoding of the converted value, by T's own rules (a T with a
// CacheKey or MarshalText method is keyed by it; a value of an interface
// type as held in the interface, R1). The first case that applies:
//
//   - v's dynamic type is T: v is used as it is.
//   - v is nil: allowed when T is a pointer, interface, slice or map type,
//     and then the value is T's nil (null for a pointer or interface, 0x40
//     for a nil []byte, 0x80 or a typed array for other slices, 0xa0 for a
//     map: what a nil argument encodes as). An empty slice or map that is
//     not nil is not dropped: it keys apart from nil.
//   - T is an interface type: v is used as it is, if v's type implements T;
//     only a value of v's dynamic type is dropped (R1).
//   - T is a pointer type *E: v is converted to E by these rules (a non-nil
//     pointer keys as its pointee).
//   - T and v are both of integer or float kinds (not uintptr, not
//     complex): v is converted when T holds exactly v's value. An integer
//     converts to an integer kind whose range holds it (so never a negative
//     value to an unsigned kind) and to a float kind whose nearest value
//     converts back to it exactly; a float converts to an integer kind when
//     it is integral (not NaN or ±Inf) and in range (-0 converts to 0), to
//     float64 always, and to float32 when float32 holds it exactly (NaN and
//     ±Inf do; all NaNs key alike).
//   - T and v are both of bool kind, or both of string kind: v is converted
//     (so "fast" converts to a type Mode string).
//   - Otherwise (a string for an int argument, a struct of another type, a
//     []int for a []int64 argument, nil for an int), Compile fails with an
//     error unwrapping to ErrInvalidRule that names the argument and both
//     types: `keying: pkg.T: DropIfEqual("Threshold", 1.5): float64 1.5 is
//     not exactly representable as the argument's type int`. A v that cannot
//     be keyed at all is an error unwrapping to ErrUnkeyable.
//
// Unexported fields of A are not arguments: each must be tagged pcache:"-"
// (Compile fails otherwise, so none is dropped silently).
//
// # Result-type fingerprints
//
// A cache stores results encoded by its result codec (fxamacker/cbor v2, core
// deterministic) and decodes them into the result type of the build that
// reads them. Had that type changed between builds (a field renamed, added
// or removed, an int become a float64), decoding would silently fill the new
// type from the old bytes. So the cache records ResultFingerprint(R) of the
// result type R with every entry, and an entry whose fingerprint differs is a
// miss. The fingerprint covers the type's shape: everything that the codec's
// encoding of values of R depends on, and nothing that depends on the build,
// the OS, the architecture or the names of ordinary types.
//
// F1. ResultShape(t) is the canonical encoding of the three-element array
// ["pcache-result-shape", 1, shape(t)], where 1 is ResultShapeFormat, by
// the conventions of keys: text strings by R10, unsigned integers by R8,
// shortest heads, definite lengths. A shape holds only arrays, text strings
// and unsigned integers (no maps, floats or tags), so this is its core
// deterministic encoding. ResultFingerprint(t) is the BLAKE3-256 of
// ResultShape(t). A nil reflect.Type has the shape "nil". Neither function
// fails or panics. shape(t) is given by the first of F2 … F11 that applies.
//
// F2. Recursion. When t is met again while it is being described (it is
// one of the types whose shape encloses this position), its shape is
// ["ref", n], where n ≥ 1 counts the enclosing levels up to the one where t
// was entered; 1 is the immediately enclosing type. Every type described by
// F5 … F10 is one level. So type Node struct{ Kids []*Node } is
// ["struct", [["Kids", "", "", 0, ["slice", ["ptr", ["ref", 3]]]]]], the
// same for every recursive type of that shape, whatever its name.
//
// F3. Opaque types. When t is not a pointer or interface type and the
// method set of *t (so t's methods too, declared or promoted from an
// embedded field) has MarshalCBOR, MarshalBinary, MarshalText or
// MarshalJSON with the signature func() ([]byte, error), or t is time.Time,
// big.Int, big.Float, big.Rat or cbor.Tag (which the codec encodes
// specially), the codec's encoding is the type's own and its fields do not
// matter: the shape is ["named", N], where N is PkgPath + "." + Name for a
// defined type ("time.Time", "math/big.Int", "net/netip.Addr",
// "github.com/fxamacker/cbor/v2.Tag") and reflect's String for an unnamed
// one (a struct type with promoted methods: "struct { time.Time; N int }").
// These are the only shapes that hold a type name.
//
// F4. Scalars and kinds the codec cannot round-trip: bool, int, int8 …
// int64, uint, uint8 … uint64, uintptr, float32, float64, complex64,
// complex128, string, unsafe.Pointer, chan and func: the reflect.Kind name
// as a text string ("bool", "int", "int64", "uint8", "float64", "string",
// "unsafe.Pointer", "chan", "func", ...). A defined type shapes like its
// kind (type Celsius float64 is "float64", time.Duration is "int64"). int
// and uint are "int" and "uint" on every platform, 386 included: the kind,
// not the width. The element types of chans and funcs are not described.
//
// F5. Pointers: ["ptr", shape(elem)].
//
// F6. Slices: ["slice", shape(elem)]; []byte is ["slice", "uint8"].
//
// F7. Arrays: ["array", len, shape(elem)], len an unsigned integer.
//
// F8. Maps: ["map", shape(key), shape(elem)].
//
// F9. Interfaces: ["interface", names], names being the array of the
// interface's method names (exported and unexported), sorted bytewise.
// any is ["interface", []], error is ["interface", ["Error"]]. The dynamic
// values an interface holds are not part of the shape.
//
// F10. Structs: ["struct", fields], fields holding one entry
// [name, cborTag, jsonTag, flags, shape(field type)] for every field of t,
// exported or not, embedded or not, blank (_) fields included. name is the
// Go field name; cborTag and jsonTag are the raw values of the field's
// `cbor:"..."` and `json:"..."` tags (reflect.StructTag.Get, "" when
// absent); flags is an unsigned integer, the sum of 1 when the field is
// embedded and 2 when it is unexported. The entries are sorted by name,
// bytewise, and entries of the same name (blank fields) by their encoded
// bytes. So the order of declaration and the struct type's name and package
// do not change the shape, while renaming, adding or removing a field or
// changing its type or its cbor or json tag does.
//
// F11. Array structs. When the first field of t named _ has a cbor tag with
// the option toarray or toindefarray (a comma-separated part after the first),
// the codec encodes t as an array of its fields in declaration order, so
// the entries of F10 are in declaration order instead of sorted; so are
// those of a struct type that is the type, or the pointee of the type, of
// an embedded field of such a struct (the codec flattens its fields into
// the array).
//
// The golden vectors in testdata/fingerprints.txt pin these rules; see
// fingerprint_test.go for the types behind them.
//
// # Why these choices
//
// Keys never merge values a function can tell apart, unless the user asks
// (RuleInstant, RuleString, RuleMap, CacheKey): a shared entry would hand
// one call another's result. Where the static type fixes the type, numbers
// are keyed by value because CBOR has no widths and because widening an
// argument from int32 to int64, or running on a 32-bit machine, should not
// lose the cache; type names are not keyed because renaming or moving a type
// should not lose it either (the cache name already separates functions).
// Behind an interface the function can see the type, so there it is keyed
// (R1), except for the plain types, which keep the encoding they always had.
// The same reasons keep type names out of result shapes, with one
// exception: a type that encodes itself (F3) can only be told apart by its
// name. Every NaN still keys alike: NaNs differ only in bits that Go
// arithmetic does not preserve. Unexported fields of nested values are
// keyed because dropping them silently gives wrong answers
// (mitchellh/hashstructure); keying private state can at worst cause extra
// misses, never a false hit, and a type can declare CacheKey to key only what
// matters. Methods come first (CacheKey, then the time and math/big types,
// then MarshalText) because a type's author knows best what identifies it.
//
// # Revisions
//
// Revision 2 of key format 1 (issue 20) keys apart values that revision 1
// merged although a function can tell them apart: a time's zone (R4), -0
// and +0 (R9, R12), nil and empty slices and maps (R11 … R14), and the
// dynamic type behind an interface (R1). It keeps KeyFormat 1 because every
// other value keeps its bytes: in each merged pair, the value revision 2
// encodes as before is the common one (a time in UTC, +0, a nil slice or
// map, a value of the plain type of its encoding), and only the other one
// gains a tag, a sign or a "zone" entry, an encoding that revision 1 never
// produced. So entries stored by revision 1 keep hitting, entries of the
// newly split values miss (and are computed again), and no key of either
// revision can be read as a key of another value. One caveat: an entry that
// revision 1 stored for the newly split value (a New York time, -0, an
// empty slice, an int64 in an any) was stored under the key its partner
// keeps, and is served to that partner until it is removed (pcache-fsck rm,
// Func.Forget); revision 1 served it so already. testdata/golden.txt keeps
// the revision-1 lines of the vectors revision 2 changed, and pins their
// new bytes as name@2.
package keying
