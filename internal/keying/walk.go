package keying

import (
	"bytes"
	"encoding"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// value appends the canonical encoding of v, whose type's info is ti. v is
// never a read-only reflect.Value: fields reached through unexported fields
// are exposed first, so methods can be called on them.
func (e *encoder) value(v reflect.Value, ti *typeInfo) error {
	switch ti.kind {
	case kBool:
		if v.Bool() {
			e.buf = append(e.buf, cborTrue)
		} else {
			e.buf = append(e.buf, cborFalse)
		}
	case kInt:
		e.buf = appendInt(e.buf, v.Int())
	case kUint:
		e.buf = appendHead(e.buf, majUint, v.Uint())
	case kFloat:
		e.buf = appendFloat(e.buf, v.Float())
	case kString:
		return e.str(v.String())
	case kBytes:
		if ti.isArray {
			v = addressable(v)
		} else {
			e.nonNilEmpty(v)
		}
		b := v.Bytes()
		e.buf = appendHead(e.buf, majBytes, uint64(len(b)))
		return e.writeLarge(b)
	case kTyped:
		if !ti.isArray {
			e.nonNilEmpty(v)
		}
		return e.typed(v, ti)
	case kSeq:
		if !ti.isArray {
			e.nonNilEmpty(v)
		}
		return e.seq(v, ti)
	case kMap:
		e.nonNilEmpty(v)
		return e.mapv(v, ti)
	case kStruct:
		return e.structv(v, ti)
	case kPtr:
		if v.IsNil() {
			e.buf = append(e.buf, cborNull)
			return nil
		}
		p := uintptr(v.UnsafePointer())
		tracked, err := e.enterRef(ti.t, p, 0)
		if err != nil {
			return err
		}
		err = e.value(v.Elem(), ti.elem)
		e.leaveRef(ti.t, p, 0, tracked)
		return err
	case kIface:
		if v.IsNil() {
			e.buf = append(e.buf, cborNull)
			return nil
		}
		return e.dynamic(v.Elem())
	case kHasher, kHasherPtr:
		return e.hasher(v, ti)
	case kText, kTextPtr:
		return e.text(v, ti)
	case kTime:
		return e.time(v)
	case kBigInt:
		e.bigInt(bigPtr[big.Int](v))
	case kBigFloat:
		return e.bigFloat(bigPtr[big.Float](v))
	case kBigRat:
		e.bigRat(bigPtr[big.Rat](v))
	case kBad:
		return newWalkErr(ti.t, ti.bad, nil)
	default:
		return newWalkErr(ti.t, "internal error: unclassified type", nil)
	}
	return nil
}

// nonNilEmpty marks an empty slice or map that is not nil (v is a slice or
// a map): tagNonNilEmpty goes before the encoding that a nil one has alone.
func (e *encoder) nonNilEmpty(v reflect.Value) {
	if v.Len() == 0 && !v.IsNil() {
		e.buf = appendHead(e.buf, majTag, tagNonNilEmpty)
	}
}

// dynamic appends v, the non-nil value held in an interface (R1): as it is
// when v's type is the plain type of its encoding, and otherwise as
// 27([type name, value]), so values of two types never key alike.
func (e *encoder) dynamic(v reflect.Value) error {
	ti := infoOf(v.Type())
	if !ti.plain || ti.kind == kString && !utf8.ValidString(v.String()) {
		e.buf = append(e.buf, ti.dynHead...)
	}
	return e.value(v, ti)
}

// any appends the encoding of x, a value returned by a CacheKey method or a
// MapArg function.
func (e *encoder) any(x any) error {
	if x == nil {
		e.buf = append(e.buf, cborNull)
		return nil
	}
	v := reflect.ValueOf(x)
	return e.value(v, infoOf(v.Type()))
}

func (e *encoder) str(s string) error {
	if len(s) < largeWrite {
		e.buf = appendText(e.buf, s)
		return nil
	}
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	if utf8.Valid(b) {
		e.buf = appendHead(e.buf, majText, uint64(len(s)))
	} else {
		e.buf = appendHead(e.buf, majBytes, uint64(len(s)))
	}
	return e.writeLarge(b)
}

// seq encodes a slice or array that is not a byte or numeric one.
func (e *encoder) seq(v reflect.Value, ti *typeInfo) error {
	n := v.Len()
	var p uintptr
	if !ti.isArray && n > 0 {
		p = uintptr(v.UnsafePointer())
	}
	tracked, err := e.enterRef(ti.t, p, n)
	if err != nil {
		return err
	}
	defer e.leaveRef(ti.t, p, n, tracked)
	e.buf = appendHead(e.buf, majArray, uint64(n))
	for i := 0; i < n; i++ {
		if err := e.value(v.Index(i), ti.elem); err != nil {
			return atIndex(err, i)
		}
		if err := e.check(); err != nil {
			return err
		}
	}
	return nil
}

// mapEntry is one map entry while a map's keys are sorted.
type mapEntry struct {
	start, end int // the key's encoding in the key encoder's buffer
	k, v       reflect.Value
}

// mapv encodes a map: keys are encoded first (into a separate buffer), sorted
// by their encoded bytes, checked for duplicates, and then each key is
// followed by its value, which is streamed like any other value.
func (e *encoder) mapv(v reflect.Value, ti *typeInfo) error {
	n := v.Len()
	if n == 0 {
		e.buf = append(e.buf, majMap)
		return nil
	}
	p := uintptr(v.UnsafePointer())
	tracked, err := e.enterRef(ti.t, p, 0)
	if err != nil {
		return err
	}
	defer e.leaveRef(ti.t, p, 0, tracked)

	ke := getEncoder()
	defer putEncoder(ke)
	ke.depth, ke.instant = e.depth, e.instant
	entries := make([]mapEntry, 0, n)
	it := v.MapRange()
	for it.Next() {
		k := it.Key()
		start := len(ke.buf)
		if err := ke.value(k, ti.key); err != nil {
			return atSeg(err, "[key "+renderKey(k)+"]")
		}
		entries = append(entries, mapEntry{start, len(ke.buf), k, it.Value()})
	}
	kb := ke.buf
	slices.SortFunc(entries, func(a, b mapEntry) int {
		return bytes.Compare(kb[a.start:a.end], kb[b.start:b.end])
	})
	for i := 1; i < len(entries); i++ {
		a, b := entries[i-1], entries[i]
		if bytes.Equal(kb[a.start:a.end], kb[b.start:b.end]) {
			return newWalkErr(ti.t, fmt.Sprintf("keys %s (%s) and %s (%s) have the same canonical encoding", renderKey(a.k), dynType(a.k), renderKey(b.k), dynType(b.k)), nil)
		}
	}
	e.buf = appendHead(e.buf, majMap, uint64(len(entries)))
	for _, en := range entries {
		e.buf = append(e.buf, kb[en.start:en.end]...)
		if err := e.value(en.v, ti.elem); err != nil {
			return atKey(err, en.k)
		}
		if err := e.check(); err != nil {
			return err
		}
	}
	return nil
}

// structv encodes a struct as a map of field name → value.
func (e *encoder) structv(v reflect.Value, ti *typeInfo) error {
	st := ti.st
	if st.err != "" {
		return newWalkErr(ti.t, st.err, nil)
	}
	if err := e.enter(ti.t); err != nil {
		return err
	}
	defer func() { e.depth-- }()
	if st.needAddr {
		v = addressable(v)
	}
	var small [16]presentField
	present := small[:0]
	for _, f := range st.keyed {
		fv, ok := f.get(v)
		if !ok {
			continue // promoted through a nil embedded pointer: absent
		}
		if f.omitzero {
			z, err := f.zero()
			if err != nil {
				return atField(err, f.goPath)
			}
			eq, err := encodesAs(fv, f.ti, z, e.depth, e.instant)
			if err != nil {
				return atField(err, f.goPath)
			}
			if eq {
				continue
			}
		}
		present = append(present, presentField{f, fv})
	}
	e.buf = appendHead(e.buf, majMap, uint64(len(present)))
	for _, p := range present {
		e.buf = append(e.buf, p.f.head...)
		if err := e.field(p.v, p.f.ti, p.f.opt); err != nil {
			return atField(err, p.f.goPath)
		}
		if err := e.check(); err != nil {
			return err
		}
	}
	return nil
}

// presentField is a field that takes part in a struct's encoding.
type presentField struct {
	f *fieldInfo
	v reflect.Value
}

// field encodes a field's value under its tag option.
func (e *encoder) field(v reflect.Value, ti *typeInfo, opt tagOpt) error {
	switch opt {
	case optHash:
		return e.hashOf(v, ti)
	case optString:
		return e.sprint(v, ti)
	case optInstant:
		return e.instantValue(v, ti)
	}
	return e.value(v, ti)
}

// instantValue encodes v with every time.Time in it keyed by its instant
// alone (InstantArg, tag ,instant).
func (e *encoder) instantValue(v reflect.Value, ti *typeInfo) error {
	was := e.instant
	e.instant = true
	err := e.value(v, ti)
	e.instant = was
	return err
}

// hashOf appends the 32-byte Sum of v as a byte string.
func (e *encoder) hashOf(v reflect.Value, ti *typeInfo) error {
	sum, err := sumValue(v, ti, e.depth, e.instant)
	if err != nil {
		return err
	}
	e.buf = append(e.buf, majBytes|24, 32)
	e.buf = append(e.buf, sum[:]...)
	return nil
}

// sprint appends fmt.Sprint of v as a string.
func (e *encoder) sprint(v reflect.Value, ti *typeInfo) (err error) {
	if ti.kind == kBad {
		return newWalkErr(ti.t, ti.bad+" (not even as a string: fmt.Sprint would print an address)", nil)
	}
	defer func() {
		if r := recover(); r != nil {
			err = newWalkErr(ti.t, fmt.Sprintf("fmt.Sprint panicked: %v", r), nil)
		}
	}()
	str := fmt.Sprint(v.Interface())
	if i := strings.Index(str, "%!v(PANIC="); i >= 0 {
		// fmt recovers a panicking String or Error method and prints the
		// panic instead; keying on that text would hide the failure.
		return newWalkErr(ti.t, "fmt.Sprint: "+str[i:], nil)
	}
	return e.str(str)
}

// hasher keys v by the value its CacheKey method returns.
func (e *encoder) hasher(v reflect.Value, ti *typeInfo) error {
	if ti.kind == kHasherPtr {
		v = ownCopy(v).Addr()
	}
	kh, _ := v.Interface().(KeyHasher)
	if kh == nil {
		e.buf = append(e.buf, cborNull)
		return nil
	}
	x, err := callCacheKey(kh)
	if err != nil {
		return newWalkErr(ti.t, "CacheKey: "+err.Error(), err)
	}
	if err := e.enter(ti.t); err != nil {
		return err
	}
	defer func() { e.depth-- }()
	if err := e.any(x); err != nil {
		return atSeg(err, ".CacheKey()")
	}
	return nil
}

func callCacheKey(kh KeyHasher) (x any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return kh.CacheKey()
}

// text keys v by its MarshalText output.
func (e *encoder) text(v reflect.Value, ti *typeInfo) error {
	if ti.kind == kTextPtr {
		v = ownCopy(v).Addr()
	}
	tm, _ := v.Interface().(encoding.TextMarshaler)
	if tm == nil {
		e.buf = append(e.buf, cborNull)
		return nil
	}
	b, err := callMarshalText(tm)
	if err != nil {
		return newWalkErr(ti.t, "MarshalText: "+err.Error(), err)
	}
	return e.str(string(b))
}

func callMarshalText(tm encoding.TextMarshaler) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return tm.MarshalText()
}

// dynType names the dynamic type of a map key, for messages.
func dynType(k reflect.Value) reflect.Type {
	if k.Kind() == reflect.Interface && !k.IsNil() {
		return k.Elem().Type()
	}
	return k.Type()
}
