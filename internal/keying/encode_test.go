package keying

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/fxamacker/cbor/v2"
	"github.com/zeebo/blake3"
)

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := marshal(v)
	if err != nil {
		t.Fatalf("marshal(%#v): %v", v, err)
	}
	return b
}

func hexOf(t testing.TB, v any) string { return hex.EncodeToString(mustMarshal(t, v)) }

// Types used by the tests.
type (
	keyedByName struct {
		Name  string
		Cache map[string]int
	}
	ptrKeyed   struct{ N int }
	failingKey struct{}
	panicKey   struct{}
	selfKey    struct{ N int }
	textPtr    struct{ s string }
	withFunc   struct {
		Items []item
	}
	item struct {
		Name string
		Fn   func()
	}
	embedTime struct {
		time.Time
		Name string
	}
	embedKeyed struct {
		keyedByName
		Extra int
	}
	ownKeyed struct {
		keyedByName
		Extra int
	}
	Base struct {
		Verbose bool
		Level   int
	}
	withBase struct {
		Base
		X int
	}
	flat struct {
		Verbose bool
		Level   int
		X       int
	}
	withPtrBase struct {
		*Base
		X int
	}
	collide struct {
		Base
		Level int
	}
	private struct {
		Public string
		secret int
	}
	tagged struct {
		A  int    `pcache:"alpha"`
		B  int    `pcache:"-"`
		C  int    `pcache:",omitzero"`
		D  []byte `pcache:",hash"`
		E  error  `pcache:",string"`
		F  string `pcache:",out"`
		_  int
		ch chan int `pcache:"-"`
	}
	badTag struct {
		A int `pcache:",bogus"`
	}
	twoOpts struct {
		A int `pcache:",hash,string"`
	}
	node struct {
		V    int
		Next *node
	}
	Meters float64
)

func (k keyedByName) CacheKey() (any, error) { return k.Name, nil }
func (p *ptrKeyed) CacheKey() (any, error)   { return []any{"ptr", p.N}, nil }
func (failingKey) CacheKey() (any, error)    { return nil, io.ErrUnexpectedEOF }
func (panicKey) CacheKey() (any, error)      { panic("boom") }
func (s selfKey) CacheKey() (any, error)     { return s, nil }
func (t *textPtr) MarshalText() ([]byte, error) {
	return []byte("text:" + t.s), nil
}
func (o ownKeyed) CacheKey() (any, error) { return []any{o.Name, o.Extra}, nil }

func TestEncodingVectors(t *testing.T) {
	// Hand-checked encodings: each line is the spec in doc.go applied by hand.
	neg0 := math.Copysign(0, -1)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, "f6"},
		{"false", false, "f4"},
		{"int 23", 23, "17"},
		{"int 24", 24, "1818"},
		{"int -25", -25, "3818"},
		{"int32 by value", int32(3), "03"},
		{"uint8 by value", uint8(3), "03"},
		{"uint64 max", uint64(math.MaxUint64), "1bffffffffffffffff"},
		{"int64 min", int64(math.MinInt64), "3b7fffffffffffffff"},
		{"float 1.0 is not int", 1.0, "f93c00"},
		{"float32 1.5 = float64 1.5", float32(1.5), "f93e00"},
		{"float -0 is not 0", neg0, "f98000"},
		{"NaN", math.NaN(), "f97e00"},
		{"NaN payload", math.Float64frombits(0x7ff0000000000001), "f97e00"},
		{"-Inf", math.Inf(-1), "f9fc00"},
		{"half subnormal", math.Ldexp(1, -24), "f90001"},
		{"single", 100000.0, "fa47c35000"},
		{"double", 0.1, "fb3fb999999999999a"},
		{"double subnormal", math.SmallestNonzeroFloat64, "fb0000000000000001"},
		{"string", "a", "6161"},
		{"invalid utf8 string is bytes", "\xff", "41ff"},
		{"bytes", []byte{1, 2}, "420102"},
		{"nil bytes = empty", []byte(nil), "40"},
		{"byte array", [2]byte{1, 2}, "420102"},
		{"ints typed", []int{1, -1}, "d84f5001000000000000000ffffffffffffffff"[:0] + "d84f500100000000000000ffffffffffffffff"},
		{"int8 typed", []int8{-1}, "d8484101"[:6] + "ff"},
		{"float64 typed NaN -0", []float64{neg0, math.NaN()}, "d85650" + "0000000000000080" + "000000000000f87f"},
		{"float32 typed", []float32{1}, "d855440000803f"},
		{"named float slice", []Meters{1}, "d85648000000000000f03f"},
		{"empty typed", []float64{}, "da00706345d85640"},
		{"nil typed", []float64(nil), "d85640"},
		{"nil slice = empty", []string(nil), "80"},
		{"strings", []string{"b", "a"}, "8261626161"},
		{"map sorted", map[string]int{"bb": 1, "a": 2, "c": 3}, "a3616102616303626262" + "01"},
		{"nil map = empty", map[string]int(nil), "a0"},
		{"map int keys", map[int]bool{-1: true, 1: false, 24: true}, "a301f41818f520f5"},
		{"struct sorted by name", struct{ Zeta, B int }{1, 2}, "a26142026" + "45a65746101"},
		{"pointer followed", &[]string{"x"}, "816178"},
		{"nil pointer", (*int)(nil), "f6"},
		{"interface", []any{nil, 1, "x"}, "83f6016178"},
		{"time", time.Unix(5, 7), "d903e9a201052807"},
		{"time whole second", time.Unix(-1, 0).UTC(), "d903e9a10120"},
		{"time in a zone", time.Unix(-1, 0).In(time.FixedZone("X", 3600)), "d903e9a20120647a6f6e6583190e1061586158"},
		{"big.Int small", big.NewInt(-5), "24"},
		{"big.Int 2^64", new(big.Int).Lsh(big.NewInt(1), 64), "c249010000000000000000"},
		{"big.Int -2^64", new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 64)), "3bffffffffffffffff"},
		{"big.Int -2^64-1", new(big.Int).Sub(new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 64)), big.NewInt(1)), "c349010000000000000000"},
		{"big.Float 1.5", big.NewFloat(1.5), "c5822003"},
		{"big.Float 0", new(big.Float), "c5820000"},
		{"big.Float -Inf", new(big.Float).SetInf(true), "f9fc00"},
		{"big.Float 12 = 3·2^2", big.NewFloat(12), "c5820203"},
		{"big.Rat", big.NewRat(-2, 4), "d81e822002"},
		{"KeyHasher", keyedByName{Name: "n", Cache: map[string]int{"x": 1}}, "616e"},
		{"KeyHasher ptr receiver on value", ptrKeyed{N: 1}, "8263707472" + "01"},
		{"KeyHasher ptr receiver on pointer", &ptrKeyed{N: 1}, "826370747201"},
		{"TextMarshaler", netip.MustParseAddr("10.0.0.1"), "6831302e302e302e31"},
		{"TextMarshaler ptr receiver", textPtr{"a"}, "66746578743a61"},
		{"promoted MarshalText ignored", embedTime{time.Unix(1, 0), "n"}, "a2644e616d65616e6454696d65d903e9a10101"},
		{"embedded KeyHasher is a field", embedKeyed{keyedByName{Name: "n"}, 2}, "a2654578747261026b6b6579656442794e616d65616e"},
		{"own CacheKey wins", ownKeyed{keyedByName{Name: "n"}, 2}, "82616e02"},
		{"embedded struct promoted", withBase{Base{true, 2}, 3}, hexOf(t, flat{true, 2, 3})},
		{"nil embedded pointer: fields absent", withPtrBase{nil, 3}, "a1615803"},
		{"unexported fields keyed", private{"p", 7}, "a2665075626c69636170667365637265740" + "7"},
		{"tags", tagged{A: 1, B: 2, D: []byte("d"), E: io.EOF, F: "out"}, "a361440" + "" + "0"},
	}
	// Fix up the two vectors that are easier to build than to write.
	dsum, _ := sumOf([]byte("d"))
	for i := range tests {
		if tests[i].name == "tags" {
			tests[i].want = "a3" + "6144" + "5820" + hex.EncodeToString(dsum[:]) + "6145" + "63454f46" + "65616c706861" + "01"
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hexOf(t, tt.v); got != tt.want {
				d, _ := Diagnose(mustMarshal(t, tt.v))
				t.Errorf("marshal(%#v)\n got %s (%s)\nwant %s", tt.v, got, d, tt.want)
			}
		})
	}
}

// TestMatchesCoreDeterministic cross-checks the encoder against
// fxamacker/cbor's RFC 8949 core deterministic mode on the values where the
// two specs agree (no typed arrays, no structs, only plain types behind
// interfaces).
func TestMatchesCoreDeterministic(t *testing.T) {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var vals []any
	for i := 0; i < 20000; i++ {
		var f float64
		switch i % 4 {
		case 0:
			f = math.Float64frombits(r.Uint64())
		case 1:
			f = float64(math.Float32frombits(r.Uint32()))
		case 2:
			f = math.Ldexp(float64(r.IntN(2048)), -r.IntN(40)) // many half-exact values and subnormals
		case 3:
			f = float64(r.IntN(1<<20)) - 1<<19
		}
		if f == 0 {
			continue
		}
		vals = append(vals, f, int64(r.Uint64()), r.Uint64()>>r.IntN(64), -int64(r.Uint64()>>r.IntN(64)))
	}
	vals = append(vals, map[string]any{"a": 1, "bb": []any{"x", 2.5, true, nil}, "B": map[string]any{"-3": "y", "7": "z"}},
		map[int]any{-3: "y", 7: "z"}, math.Copysign(0, -1), 0.0,
		big.NewInt(12345), new(big.Int).Lsh(big.NewInt(3), 100), new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(3), 100)))
	for _, v := range vals {
		want, err := em.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustMarshal(t, v); !bytes.Equal(got, want) {
			t.Fatalf("marshal(%v) = %x, core deterministic = %x", v, got, want)
		}
	}
}

func TestIntWidthsAndPlatforms(t *testing.T) {
	t.Logf("GOARCH=%s, int is %d bits", runtime.GOARCH, strconv.IntSize)
	for _, v := range []any{int8(-7), int16(-7), int32(-7), int64(-7), int(-7)} {
		if got := hexOf(t, v); got != "26" {
			t.Errorf("%T(-7) = %s, want 26", v, got)
		}
	}
	// []int is 64-bit little-endian everywhere, including GOARCH=386.
	if got := hexOf(t, []int{-2}); got != "d84f48feffffffffffffff" {
		t.Errorf("[]int{-2} = %s", got)
	}
	if got := hexOf(t, []uint{2}); got != "d8474802"+"00000000000000" {
		t.Errorf("[]uint{2} = %s", got)
	}
}

func TestTypedArrayPaths(t *testing.T) {
	// The direct little-endian path and the element conversion path (used on
	// big-endian machines and for 32-bit int) must agree for every kind.
	neg0 := math.Copysign(0, -1)
	r := rand.New(rand.NewPCG(3, 4))
	n := 3*chunkBytes/8 + 5 // several chunks, last one partial
	f64 := make([]float64, n)
	f32 := make([]float32, n)
	for i := range f64 {
		f64[i] = r.NormFloat64()
		f32[i] = float32(r.NormFloat64())
	}
	f64[7], f64[n-1], f64[chunkBytes/8] = math.NaN(), neg0, math.Float64frombits(0xfff0000000000123)
	f32[9], f32[n-2] = float32(math.NaN()), float32(neg0)
	ints := make([]int, n)
	for i := range ints {
		ints[i] = int(r.Int32()) - 1<<30
	}
	vals := []any{f64, f32, ints, []int8{-1, 2}, []int16{-300, 2}, []int32{-70000}, []int64{math.MinInt64},
		[]uint16{65535}, []uint32{1 << 31}, []uint64{math.MaxUint64}, []uint{7}, [3]float64{1, math.NaN(), neg0}}
	for _, v := range vals {
		direct := mustMarshal(t, v)
		forceConvert = true
		converted := mustMarshal(t, v)
		forceConvert = false
		if !bytes.Equal(direct, converted) {
			t.Errorf("%T: direct and converted typed arrays differ", v)
		}
	}
	// NaN canonicalised in arrays too; -0 keeps its sign (1/x tells).
	a := mustMarshal(t, []float64{1, math.NaN(), neg0})
	b := mustMarshal(t, []float64{1, math.Float64frombits(0x7ff0000000000bad), neg0})
	if !bytes.Equal(a, b) {
		t.Errorf("NaN not canonical: %x vs %x", a, b)
	}
	if c := mustMarshal(t, []float64{1, math.NaN(), 0}); bytes.Equal(a, c) {
		t.Errorf("-0 and +0 in a typed array key alike: %x", c)
	}
	// The input slice is never modified.
	if !math.IsNaN(f64[7]) || !math.Signbit(f64[n-1]) || math.Float64bits(f64[chunkBytes/8]) != 0xfff0000000000123 {
		t.Error("encoding modified the input slice")
	}
}

// TestNilAndEmpty: a nil slice or map keeps its encoding; an empty one that
// is not nil is that encoding under tag 0x706345 (da00706345).
func TestNilAndEmpty(t *testing.T) {
	pairs := []struct {
		nilV, empty      any
		nilHex, emptyHex string
	}{
		{[]int(nil), []int{}, "d84f40", "da00706345d84f40"},
		{[]byte(nil), []byte{}, "40", "da0070634540"},
		{[]string(nil), []string{}, "80", "da0070634580"},
		{map[string]int(nil), map[string]int{}, "a0", "da00706345a0"},
		{struct{ S []int }{}, struct{ S []int }{S: []int{}}, "a16153d84f40", "a16153da00706345d84f40"},
	}
	for _, p := range pairs {
		if got := hexOf(t, p.nilV); got != p.nilHex {
			t.Errorf("%#v = %s, want %s", p.nilV, got, p.nilHex)
		}
		if got := hexOf(t, p.empty); got != p.emptyHex {
			t.Errorf("%#v = %s, want %s", p.empty, got, p.emptyHex)
		}
	}
	// Arrays are never nil: [0]T keeps its encoding.
	if got := hexOf(t, [0]string{}); got != "80" {
		t.Errorf("[0]string{} = %s, want 80", got)
	}
}

func TestMapOrderIndependent(t *testing.T) {
	const n = 10000
	r := rand.New(rand.NewPCG(5, 6))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%x", r.Uint64())
	}
	build := func(order []int) map[string]float64 {
		m := make(map[string]float64) // no size hint: growth follows insertion order
		for _, i := range order {
			m[keys[i]] = float64(i)
		}
		return m
	}
	o1, o2 := r.Perm(n), r.Perm(n)
	h1, err := StableHash(build(o1))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := StableHash(build(o2))
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 {
		t.Errorf("same map, two insertion orders: %s vs %s", h1, h2)
	}
	// Also through a plan, as a struct argument.
	type args struct{ M map[string]float64 }
	p, err := Compile(reflect.TypeFor[args](), nil)
	if err != nil {
		t.Fatal(err)
	}
	k1, err := p.Key("v", args{build(o1)})
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := p.Key("v", args{build(o2)})
	if k1.Hash != k2.Hash {
		t.Error("plan keys differ for the same map")
	}
}

func TestStreamingMatchesMarshal(t *testing.T) {
	big64 := make([]float64, 200000)
	for i := range big64 {
		big64[i] = float64(i) / 7
	}
	big64[5] = math.NaN()
	long := strings.Repeat("é", 50000)
	manyStrings := make([]string, 30000)
	for i := range manyStrings {
		manyStrings[i] = fmt.Sprint(i)
	}
	vals := []any{
		nil, 1, "x", big64, long, string([]byte{0xff}) + long, manyStrings,
		map[string]any{"a": big64, "b": []any{long, manyStrings}, "c": bytes.Repeat([]byte{7}, 100000)},
		tagged{A: 1, D: bytes.Repeat([]byte{1}, 1<<20)},
		[][]int32{make([]int32, 70000), {1, 2}},
	}
	for i, v := range vals {
		want := mustMarshal(t, v)
		var buf bytes.Buffer
		cw := &countingWriter{w: &buf}
		if err := encodeTo(cw, v); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("value %d: Encode differs from Marshal", i)
		}
		if i == 6 && cw.maxWrite > flushSize+largeWrite {
			t.Errorf("value %d: Encode wrote %d of %d bytes in one call; want batches of about %d", i, cw.maxWrite, len(want), flushSize)
		}
		sum, err := sumOf(v)
		if err != nil {
			t.Fatal(err)
		}
		if sum != blake3.Sum256(want) {
			t.Errorf("value %d: Sum != blake3(Marshal)", i)
		}
		h, _ := StableHash(v)
		if h != hex.EncodeToString(sum[:]) {
			t.Errorf("value %d: StableHash != hex(Sum)", i)
		}
	}
}

type countingWriter struct {
	w        io.Writer
	maxWrite int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.maxWrite = max(c.maxWrite, len(p))
	return c.w.Write(p)
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, io.ErrShortWrite
	}
	return len(p), nil
}

func TestEncodeWriterError(t *testing.T) {
	err := encodeTo(&failWriter{after: 100}, make([]float64, 1<<16))
	if !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("Encode to a failing writer: %v", err)
	}
}

func TestUnkeyable(t *testing.T) {
	cyc := &node{V: 1}
	cyc.Next = &node{V: 2, Next: cyc}
	selfSlice := []any{nil}
	selfSlice[0] = selfSlice
	selfMap := map[string]any{}
	selfMap["me"] = selfMap
	deep := &node{}
	for i := 0; i < 20000; i++ {
		deep = &node{V: i, Next: deep}
	}
	tests := []struct {
		name     string
		v        any
		path     string
		typ      string
		reason   string
		isTarget error
	}{
		{"func in slice in struct", withFunc{Items: []item{{"a", nil}, {"b", nil}, {"c", nil}, {"d", func() {}}}}, "withFunc.Items[0].Fn", "func()", "funcs cannot be keyed", nil},
		{"chan", map[string]any{"c": make(chan int)}, `value["c"]`, "chan int", "channels", nil},
		{"unsafe pointer", []any{unsafe.Pointer(&selfSlice)}, "value[0]", "unsafe.Pointer", "unsafe pointers", nil},
		{"uintptr", uintptr(1), "value", "uintptr", "uintptrs", nil},
		{"complex", []complex128{1}, "value[0]", "complex128", "complex numbers cannot be keyed", nil},
		{"complex elem", []any{1i}, "value[0]", "complex128", "complex numbers", nil},
		{"duplicate map keys", map[*int]int{new(int): 1, new(int): 2}, "value", "map[*int]int", "same canonical encoding", nil},
		{"NaN map keys", map[float64]int{math.NaN(): 1, math.NaN(): 2}, "value", "map[float64]int", "same canonical encoding", nil},
		{"pointer cycle", cyc, "", "", "cycle", nil},
		{"slice cycle", selfSlice, "", "", "cycle", nil},
		{"map cycle", selfMap, "", "", "cycle", nil},
		{"too deep", deep, "", "", "10000 levels", nil},
		{"CacheKey returns itself", selfKey{1}, "", "", "10000 levels", nil},
		{"CacheKey error", []any{failingKey{}}, "value[0]", "keying.failingKey", "CacheKey: unexpected EOF", io.ErrUnexpectedEOF},
		{"CacheKey panic", map[int]any{3: panicKey{}}, "value[3]", "keying.panicKey", "panic: boom", nil},
		{"bad tag", badTag{}, "badTag", "keying.badTag", "unknown option", nil},
		{"two tag options", twoOpts{}, "twoOpts", "keying.twoOpts", "two key rules", nil},
		{"field name collision", collide{}, "collide", "keying.collide", "both have the key name \"Level\"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := marshal(tt.v)
			if err == nil {
				t.Fatalf("Marshal succeeded")
			}
			var ke *Error
			if !errors.As(err, &ke) || !errors.Is(err, ErrUnkeyable) {
				t.Fatalf("error %v (%T) is not an *Error unwrapping to ErrUnkeyable", err, err)
			}
			if tt.path != "" && ke.Path != tt.path {
				t.Errorf("Path = %q, want %q (%v)", ke.Path, tt.path, err)
			}
			if tt.typ != "" && (ke.Type == nil || ke.Type.String() != tt.typ) {
				t.Errorf("Type = %v, want %s", ke.Type, tt.typ)
			}
			if !strings.Contains(ke.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", ke.Reason, tt.reason)
			}
			if tt.isTarget != nil && !errors.Is(err, tt.isTarget) {
				t.Errorf("errors.Is(err, %v) = false", tt.isTarget)
			}
			if !strings.HasPrefix(err.Error(), "keying: ") {
				t.Errorf("message %q", err)
			}
			// Sum and Encode fail the same way.
			if _, err := sumOf(tt.v); !errors.Is(err, ErrUnkeyable) {
				t.Errorf("Sum: %v", err)
			}
			if err := encodeTo(io.Discard, tt.v); !errors.Is(err, ErrUnkeyable) {
				t.Errorf("Encode: %v", err)
			}
		})
	}
	// The example message.
	_, err := marshal(withFunc{Items: []item{{}, {}, {}, {Fn: func() {}}}})
	if err == nil || err.Error() != "keying: withFunc.Items[0].Fn (func()): funcs cannot be keyed" {
		t.Errorf("message = %v", err)
	}
}

func TestLongPathsAreShortened(t *testing.T) {
	_, err := marshal(selfKey{1})
	if err == nil || len(err.Error()) > 1000 || !strings.Contains(err.Error(), "more)") {
		t.Errorf("error for a runaway CacheKey: %.2000v", err)
	}
	cyc := &node{V: 1}
	cyc.Next = cyc
	_, err = marshal(cyc)
	var ke *Error
	if !errors.As(err, &ke) || !strings.HasPrefix(ke.Path, "node.Next.Next") || !strings.HasSuffix(ke.Path, ".Next") || len(ke.Path) > 500 {
		t.Errorf("cycle error path %q", ke.Path)
	}
}

func TestDeepButFiniteIsKeyable(t *testing.T) {
	// A shared (non-cyclic) pointer reached twice is fine, and so is a list
	// deeper than the cycle-check depth.
	shared := &node{V: 1}
	if _, err := marshal([]*node{shared, shared}); err != nil {
		t.Error(err)
	}
	deep := &node{}
	for i := 0; i < 3000; i++ {
		deep = &node{V: i, Next: deep}
	}
	if _, err := marshal(deep); err != nil {
		t.Error(err)
	}
}

func TestStructShapesShareKeys(t *testing.T) {
	type a struct {
		X int
		Y string
	}
	type b struct {
		Y string
		X int64
	}
	if hexOf(t, a{1, "y"}) != hexOf(t, b{"y", 1}) {
		t.Error("identically shaped structs should share a key")
	}
	if hexOf(t, a{1, "y"}) != hexOf(t, map[string]any{"X": 1, "Y": "y"}) {
		t.Error("a struct should key like the map of its fields")
	}
}

func TestTimeKeysZoneIgnoresMonotonic(t *testing.T) {
	now := time.Now().UTC() // has a monotonic reading
	a := hexOf(t, now)
	if b := hexOf(t, now.Round(0)); a != b {
		t.Errorf("the monotonic reading is keyed: %s vs %s", a, b)
	}
	if b := hexOf(t, now.In(time.FixedZone("Elsewhere", -7*3600))); a == b {
		t.Errorf("the same instant in two zones keys alike: %s", a)
	}
	if hexOf(t, now) == hexOf(t, now.Add(time.Nanosecond)) {
		t.Error("nanoseconds are lost")
	}
	if got := hexOf(t, time.Time{}); got != "d903e9a1013b0000000e7791f6ff" {
		t.Errorf("zero time = %s", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	v := map[string]any{"a": []float64{1, 2}, "b": tagged{A: 1}, "c": &node{V: 1}}
	want := hexOf(t, v)
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			var got string
			for j := 0; j < 100; j++ {
				b, err := marshal(v)
				if err != nil {
					got = err.Error()
					break
				}
				got = hex.EncodeToString(b)
			}
			done <- got
		}()
	}
	for i := 0; i < 8; i++ {
		if got := <-done; got != want {
			t.Errorf("concurrent Marshal = %s", got)
		}
	}
}

// keyBytes is the canonical key [KeyFormat, version, args] of a plan that
// keys args as a whole: the array's head, the format, the version and
// marshal(args). (A []any{KeyFormat, version, args} would key args as held
// in an interface, tagged with its type unless that is a plain one.)
func keyBytes(t testing.TB, version string, args any) []byte {
	t.Helper()
	return append(appendText([]byte{majArray | 3, KeyFormat}, version), mustMarshal(t, args)...)
}
