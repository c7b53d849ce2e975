package keying

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/zeebo/blake3"
)

// fuzzSrc hands out the fuzz input a little at a time; past its end it
// yields zeros, so every input builds some value.
type fuzzSrc struct{ b []byte }

func (s *fuzzSrc) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *fuzzSrc) bytes(n int) []byte {
	n = min(n, len(s.b))
	p := s.b[:n]
	s.b = s.b[n:]
	return p
}

func (s *fuzzSrc) u64() uint64 {
	var b [8]byte
	copy(b[:], s.bytes(8))
	return binary.LittleEndian.Uint64(b[:])
}

type fuzzStruct struct {
	A int
	B string `pcache:"b"`
	C []any  `pcache:",omitzero"`
	d float64
	E *fuzzStruct
}

// fuzzArgs is the argument struct FuzzKey keys through a Plan, both as a
// struct and through a pointer, with composed tags.
type fuzzArgs struct {
	V    any
	H    []any  `pcache:",hash,omitzero"`
	Name string `pcache:"name,omitzero,string"`
	Out  string `pcache:",out"`
}

var (
	fuzzPlan    = mustCompile(reflect.TypeFor[fuzzArgs]())
	fuzzPtrPlan = mustCompile(reflect.TypeFor[*fuzzArgs]())
)

func mustCompile(t reflect.Type) *Plan {
	p, err := Compile(t, nil)
	if err != nil {
		panic(err)
	}
	return p
}

// build makes a value from the input. reverse inserts map entries in the
// opposite order, so two builds of one input are the same logical value
// built two ways.
func (s *fuzzSrc) build(depth int, reverse bool) any {
	op := s.byte()
	if depth > 4 {
		op %= 8 // scalars only
	}
	switch op % 20 {
	case 0:
		return nil
	case 1:
		return s.byte()&1 == 1
	case 2:
		return int64(s.u64())
	case 3:
		return s.u64() >> (s.byte() % 64)
	case 4:
		return math.Float64frombits(s.u64())
	case 5:
		return math.Float32frombits(uint32(s.u64()))
	case 6:
		return string(s.bytes(int(s.byte() % 40)))
	case 7:
		return int8(s.byte())
	case 8:
		return append([]byte(nil), s.bytes(int(s.byte()%40))...)
	case 9:
		n := int(s.byte() % 20)
		f := make([]float64, n)
		for i := range f {
			f[i] = math.Float64frombits(s.u64())
		}
		return f
	case 10:
		n := int(s.byte() % 10)
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(s.u64())
		}
		return v
	case 11:
		n := int(s.byte() % 6)
		v := make([]any, n)
		for i := range v {
			v[i] = s.build(depth+1, reverse)
		}
		return v
	case 12:
		return s.stringMap(depth, reverse)
	case 13:
		return s.anyMap(depth, reverse)
	case 14:
		return s.structValue(depth, reverse)
	case 15:
		return time.Unix(int64(int32(s.u64())), int64(s.u64()%2e9)).In(time.FixedZone("z", int(int8(s.byte()))*60))
	case 16:
		x := new(big.Int).SetBytes(s.bytes(int(s.byte() % 20)))
		if s.byte()&1 == 1 {
			x.Neg(x)
		}
		return x
	case 17:
		return [3]uint16{uint16(s.u64()), uint16(s.u64()), uint16(s.u64())}
	case 18:
		return big.NewRat(int64(int8(s.byte())), int64(s.byte())+1)
	default:
		return []string{string(s.bytes(3)), string(s.bytes(3))}
	}
}

var strictDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
		MaxNestedLevels:  256,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 20,
		DefaultMapType:   reflect.TypeFor[map[any]any](),
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// FuzzKey checks that every value built from the input encodes
// deterministically (twice the same, and the same for maps built in another
// insertion order), that Encode and Sum agree with Marshal, that the
// canonical bytes are strict, well-formed CBOR that fxamacker/cbor decodes
// without panicking, and that a Plan keys an argument struct and a pointer
// to it alike. Seeds are in testdata/fuzz/FuzzKey.
func FuzzKey(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{12, 3, 1, 'a', 2, 1, 'b', 4, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 1, 'c', 0})
	f.Add([]byte{13, 4, 0, 1, 2, 1, 1, 2, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 'x', 'y', 6})
	f.Add([]byte{11, 3, 14, 1, 2, 3, 4, 5, 6, 7, 8, 'a', 'b', 'c', 9, 1, 0, 1, 1, 15, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 5, 1, 2, 3, 4, 5, 1})
	// A *fuzzStruct (op 14, last choice 0) holding a nested *fuzzStruct.
	f.Add([]byte{14, 9, 0, 0, 0, 0, 0, 0, 0, 'p', 't', 'r', 3, 1, 6, 2, 'h', 'i', 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		v1 := (&fuzzSrc{data}).build(0, false)
		v2 := (&fuzzSrc{data}).build(0, true)
		b1, err1 := marshal(v1)
		b1again, _ := marshal(v1)
		b2, err2 := marshal(v2)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("insertion order changed keyability: %v vs %v", err1, err2)
		}
		if err1 != nil {
			if _, err := sumOf(v1); err == nil {
				t.Fatal("Marshal failed but Sum did not")
			}
			return
		}
		if !bytes.Equal(b1, b1again) {
			t.Fatalf("two encodings of one value differ:\n%x\n%x", b1, b1again)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("insertion order changed the encoding:\n%x\n%x", b1, b2)
		}
		var w bytes.Buffer
		if err := encodeTo(&w, v1); err != nil || !bytes.Equal(w.Bytes(), b1) {
			t.Fatalf("Encode = %x, %v; Marshal = %x", w.Bytes(), err, b1)
		}
		if sum, err := sumOf(v1); err != nil || sum != blake3.Sum256(b1) {
			t.Fatalf("Sum != blake3(Marshal): %v", err)
		}
		if err := strictDec.Wellformed(b1); err != nil {
			t.Fatalf("not well-formed: %v\n%x", err, b1)
		}
		if rest, err := checkCanonical(b1, 0); err != nil || len(rest) != 0 {
			t.Fatalf("not core deterministic: %v (%d bytes left)\n%x", err, len(rest), b1)
		}
		var out any
		// fxamacker cannot build a Go map whose key is a tagged array (a
		// 27([type, value]) key of a map[any]any); checkCanonical covers it.
		if err := strictDec.Unmarshal(b1, &out); err != nil && !strings.Contains(err.Error(), "invalid map key type") {
			t.Fatalf("strict decode failed: %v\n%x", err, b1)
		}
		if _, err := Diagnose(b1); err != nil {
			t.Fatalf("Diagnose: %v", err)
		}
		// The decoder must not panic on damaged keys either.
		for _, cut := range []int{len(b1) / 2, len(b1) - 1} {
			if cut > 0 {
				_ = strictDec.Unmarshal(b1[:cut], &out)
			}
		}
		_ = strictDec.Unmarshal(append(b1[:len(b1):len(b1)], data...), &out)
		_, _ = Diagnose(data)
		_ = io.Discard

		// Through a Plan: the pointer plan keys *a exactly as the struct
		// plan keys a, and refuses a nil pointer.
		a := fuzzArgs{V: v1, Name: string(data[:min(len(data), 3)]), Out: "/o"}
		if len(data)%2 == 1 {
			a.H = []any{v2}
		}
		ks, errS := fuzzPlan.Key("f", a)
		kp, errP := fuzzPtrPlan.Key("f", &a)
		if errS != nil || errP != nil {
			t.Fatalf("Plan.Key of a keyable value: %v / %v", errS, errP)
		}
		if ks.Hash != kp.Hash || !bytes.Equal(ks.Bytes, kp.Bytes) || len(kp.Outs) != 1 || kp.Outs[0] != ks.Outs[0] {
			t.Fatalf("pointer key differs:\n%x %v\n%x %v", kp.Bytes, kp.Outs, ks.Bytes, ks.Outs)
		}
		if ks.Bytes != nil && ks.Hash != blake3.Sum256(ks.Bytes) {
			t.Fatal("Key.Hash != blake3(Key.Bytes)")
		}
		if _, err := fuzzPtrPlan.Key("f", (*fuzzArgs)(nil)); !errors.Is(err, ErrNilArgument) {
			t.Fatalf("nil pointer: %v", err)
		}
	})
}

// checkCanonical checks that b starts with one data item in core
// deterministic encoding (RFC 8949 §4.2.1): shortest heads, definite
// lengths, valid UTF-8 text, map keys in strictly increasing bytewise order
// (so no duplicates). It returns the bytes after the item.
func checkCanonical(b []byte, depth int) ([]byte, error) {
	if depth > 300 || len(b) == 0 {
		return nil, errors.New("truncated or too deep")
	}
	maj, ai := b[0]>>5, b[0]&31
	b = b[1:]
	var n uint64
	switch {
	case ai < 24:
		n = uint64(ai)
	case ai <= 27:
		w := 1 << (ai - 24)
		if len(b) < w {
			return nil, errors.New("truncated head")
		}
		for _, c := range b[:w] {
			n = n<<8 | uint64(c)
		}
		b = b[w:]
		if maj != 7 && (ai == 24 && n < 24 || ai > 24 && n < 1<<(8*(w/2))) {
			return nil, errors.New("head not in its shortest form")
		}
	default:
		return nil, errors.New("indefinite length or reserved head")
	}
	switch maj {
	case 2, 3:
		if uint64(len(b)) < n {
			return nil, errors.New("truncated string")
		}
		if maj == 3 && !utf8.Valid(b[:n]) {
			return nil, errors.New("text string is not UTF-8")
		}
		return b[n:], nil
	case 4:
		var err error
		for i := uint64(0); i < n; i++ {
			if b, err = checkCanonical(b, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case 5:
		var prev []byte
		for i := uint64(0); i < n; i++ {
			rest, err := checkCanonical(b, depth+1)
			if err != nil {
				return nil, err
			}
			k := b[:len(b)-len(rest)]
			if i > 0 && bytes.Compare(prev, k) >= 0 {
				return nil, errors.New("map keys not in strictly increasing order")
			}
			prev = k
			if b, err = checkCanonical(rest, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case 6:
		return checkCanonical(b, depth+1)
	}
	return b, nil
}

// stringMap builds a map[string]any of the input (build's case 12).
func (s *fuzzSrc) stringMap(depth int, reverse bool) any {
	n := int(s.byte() % 6)
	keys := make([]string, n)
	vals := make([]any, n)
	for i := range keys {
		keys[i] = string(s.bytes(int(s.byte() % 6)))
		vals[i] = s.build(depth+1, reverse)
	}
	return insertInOrder(keys, vals, reverse)
}

// anyMap builds a map[any]any of the input (build's case 13).
func (s *fuzzSrc) anyMap(depth int, reverse bool) any {
	n := int(s.byte() % 6)
	keys := make([]any, n)
	vals := make([]any, n)
	for i := range keys {
		switch s.byte() % 4 {
		case 0:
			keys[i] = int(int8(s.byte()))
		case 1:
			keys[i] = uint(s.byte())
		case 2:
			keys[i] = string(s.bytes(2))
		case 3:
			keys[i] = math.Float64frombits(s.u64())
		}
		vals[i] = s.build(depth+1, reverse)
	}
	return insertInOrder(keys, vals, reverse)
}

// insertInOrder builds the map keys[i] → vals[i], inserting in reverse
// order if asked, and then lets the first of duplicate keys win, so that
// both orders build the same map. (A NaN key is never found again: each
// stays an entry of its own, as inserted.)
func insertInOrder[K comparable](keys []K, vals []any, reverse bool) map[K]any {
	n := len(keys)
	m := make(map[K]any, n)
	for i := range keys {
		j := i
		if reverse {
			j = n - 1 - i
		}
		m[keys[j]] = vals[j]
	}
	for i := n - 1; i >= 0; i-- {
		if _, ok := m[keys[i]]; ok {
			m[keys[i]] = vals[i]
		}
	}
	return m
}

// structValue builds a fuzzStruct, or a pointer to one (build's case 14).
func (s *fuzzSrc) structValue(depth int, reverse bool) any {
	st := &fuzzStruct{A: int(int32(s.u64())), B: string(s.bytes(3)), d: float64(s.byte())}
	if s.byte()&1 == 1 {
		st.C = []any{s.build(depth+1, reverse)}
	}
	if s.byte()&1 == 1 {
		st.E = &fuzzStruct{A: 1}
	}
	if s.byte()&1 == 1 {
		return *st
	}
	return st
}
