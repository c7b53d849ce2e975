package keying

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/zeebo/blake3"
)

func compile[A any](t testing.TB, rules ...Rule) *Plan {
	t.Helper()
	p, err := Compile(reflect.TypeFor[A](), rules)
	if err != nil {
		t.Fatalf("Compile(%v): %v", reflect.TypeFor[A](), err)
	}
	return p
}

func key(t testing.TB, p *Plan, version string, v any) Key {
	t.Helper()
	k, err := p.Key(version, v)
	if err != nil {
		t.Fatalf("Key(%#v): %v", v, err)
	}
	return k
}

type (
	OldArgs struct {
		A string
		N int
	}
	NewArgs struct {
		A string
		N int
		T int
	}
	NewArgsTag struct {
		A string
		N int
		T int `pcache:",omitzero"`
	}
	VerboseArgs struct {
		Input   []float64
		Verbose bool
	}
	counter struct{ calls *int }
)

func (c counter) CacheKey() (any, error) { *c.calls++; return "c", nil }

func TestPlanDropIfEqualKeepsOldEntries(t *testing.T) {
	old := compile[OldArgs](t)
	withRule := compile[NewArgs](t, Rule{Arg: "T", Kind: RuleDropIfEqual, Value: 0})
	withTag := compile[NewArgsTag](t)
	kOld := key(t, old, "v1", OldArgs{"a", 2})
	if k := key(t, withRule, "v1", NewArgs{"a", 2, 0}); k.Hash != kOld.Hash || !bytes.Equal(k.Bytes, kOld.Bytes) {
		t.Errorf("DropIfEqual(T, 0) with T=0: key differs from the key stored before T existed")
	}
	if k := key(t, withTag, "v1", NewArgsTag{"a", 2, 0}); k.Hash != kOld.Hash {
		t.Errorf("omitzero with T=0: key differs from the old key")
	}
	if k := key(t, withRule, "v1", NewArgs{"a", 2, 1}); k.Hash == kOld.Hash {
		t.Errorf("T=1 must not hit the old entry")
	}
	// DropIfEqual compares canonical encodings: int64(0), uint8(0) drop too.
	p := compile[NewArgs](t, Rule{Arg: "T", Kind: RuleDropIfEqual, Value: uint8(0)})
	if k := key(t, p, "v1", NewArgs{"a", 2, 0}); k.Hash != kOld.Hash {
		t.Error("DropIfEqual(T, uint8(0)) did not drop T=0")
	}
	if k := key(t, old, "v2", OldArgs{"a", 2}); k.Hash == kOld.Hash {
		t.Error("version is not part of the key")
	}
}

func TestPlanIgnore(t *testing.T) {
	p := compile[VerboseArgs](t, Rule{Arg: "Verbose", Kind: RuleIgnore})
	a := key(t, p, "", VerboseArgs{[]float64{1, 2}, false})
	b := key(t, p, "", VerboseArgs{[]float64{1, 2}, true})
	if a.Hash != b.Hash {
		t.Error("calls differing only in an ignored argument have different keys")
	}
	c := key(t, p, "", VerboseArgs{[]float64{1, 3}, true})
	if a.Hash == c.Hash {
		t.Error("different inputs share a key")
	}
	// An ignored argument is never read: not even its CacheKey is called,
	// and its type may be unkeyable.
	type args struct {
		X   int
		C   counter
		Fn  func()
		Ch  chan int `pcache:"-"`
		Log io.Writer
	}
	calls := 0
	p = compile[args](t, Rule{Arg: "C", Kind: RuleIgnore}, Rule{Arg: "Fn", Kind: RuleIgnore}, Rule{Arg: "Log", Kind: RuleIgnore})
	k := key(t, p, "", args{X: 1, C: counter{&calls}, Fn: func() {}, Ch: make(chan int), Log: io.Discard})
	if calls != 0 {
		t.Error("CacheKey of an ignored argument was called")
	}
	if want := keyBytes(t, "", map[string]int{"X": 1}); !bytes.Equal(k.Bytes, want) {
		t.Errorf("key bytes %x, want %x", k.Bytes, want)
	}
}

func TestPlanKeyLayout(t *testing.T) {
	p := compile[OldArgs](t)
	v := OldArgs{"a", 2}
	k := key(t, p, "v1", v)
	// Without rules the key is the canonical [KeyFormat, version, args] and args is marshal(v).
	want := keyBytes(t, "v1", v)
	if !bytes.Equal(k.Bytes, want) {
		t.Fatalf("Key.Bytes = %x, want %x", k.Bytes, want)
	}
	if !bytes.HasPrefix(k.Bytes, []byte{0x83, 0x01, 0x62, 'v', '1'}) {
		t.Errorf("Key.Bytes prefix %x", k.Bytes[:5])
	}
	if k.Hash != blake3.Sum256(k.Bytes) {
		t.Error("Hash != blake3(Bytes)")
	}
	d, err := Diagnose(k.Bytes)
	if err != nil || d != `[1, "v1", {"A": "a", "N": 2}]` {
		t.Errorf("Diagnose = %q, %v", d, err)
	}
	// Non-struct argument types are keyed as a whole.
	ps := compile[[]string](t)
	if k := key(t, ps, "", []string{"x"}); !bytes.Equal(k.Bytes, keyBytes(t, "", []string{"x"})) {
		t.Errorf("non-struct key %x", k.Bytes)
	}
	pa := compile[any](t)
	if k := key(t, pa, "", nil); !bytes.Equal(k.Bytes, []byte{0x83, 0x01, 0x60, 0xf6}) {
		t.Errorf("nil any key %x", k.Bytes)
	}
	if _, err := p.Key("", NewArgs{}); err == nil {
		t.Error("Key accepted a value of the wrong type")
	}
}

func TestPlanLargeKeyKeepsOnlyHash(t *testing.T) {
	type args struct{ X []float64 }
	p := compile[args](t)
	v := args{make([]float64, MaxKeyBytes/8)} // just over the limit with the headers
	k := key(t, p, "v", v)
	if k.Bytes != nil {
		t.Errorf("Bytes kept for a %d-byte key", len(mustMarshal(t, v)))
	}
	if k.Hash != blake3.Sum256(keyBytes(t, "v", v)) {
		t.Error("streamed hash differs from the hash of the encoding")
	}
	small := args{make([]float64, MaxKeyBytes/8-3)}
	k = key(t, p, "v", small)
	if len(k.Bytes) > MaxKeyBytes || k.Bytes == nil {
		t.Errorf("len(Bytes) = %d", len(k.Bytes))
	}
	if k.Hash != blake3.Sum256(k.Bytes) {
		t.Error("Hash != blake3(Bytes)")
	}
}

func TestPlanRules(t *testing.T) {
	type args struct {
		Data   []byte
		Name   fmt.Stringer
		Client *strings.Reader
		Mode   string
		Out    string
		Dest   string `pcache:"dest,out"`
	}
	errBad := errors.New("bad client")
	p := compile[args](t,
		Rule{Arg: "Data", Kind: RuleHash},
		Rule{Arg: "Name", Kind: RuleString},
		Rule{Arg: "Client", Kind: RuleMap, Map: func(x any) (any, error) {
			r := x.(*strings.Reader)
			if r == nil {
				return nil, errBad
			}
			return r.Len(), nil
		}},
		Rule{Arg: "Mode", Kind: RuleDropIf, Pred: func(x any) bool { return x.(string) == "default" }},
		Rule{Arg: "Out", Kind: RuleOut},
	)
	if got := p.OutArgs(); !reflect.DeepEqual(got, []string{"Out", "dest"}) {
		t.Errorf("OutArgs = %v", got)
	}
	if got := p.Args(); !reflect.DeepEqual(got, []string{"Data", "Mode", "Name", "Client"}) {
		t.Errorf("Args = %v", got)
	}
	if p.Type() != reflect.TypeFor[args]() {
		t.Errorf("Type = %v", p.Type())
	}
	data := bytes.Repeat([]byte("x"), 1<<20)
	v := args{Data: data, Name: &strings.Builder{}, Client: strings.NewReader("abc"), Mode: "default", Out: "/tmp/a", Dest: "/tmp/b"}
	k := key(t, p, "", v)
	sum, _ := sumOf(data)
	want := keyBytes(t, "", map[string]any{"Data": sum[:], "Name": "", "Client": 3})
	if !bytes.Equal(k.Bytes, want) {
		a, _ := Diagnose(k.Bytes)
		b, _ := Diagnose(want)
		t.Errorf("key\n got %s\nwant %s", a, b)
	}
	if !reflect.DeepEqual(k.Outs, []OutArg{{"Out", "/tmp/a"}, {"dest", "/tmp/b"}}) {
		t.Errorf("Outs = %v", k.Outs)
	}
	// Out paths are not part of the key; a non-default Mode is.
	v2 := v
	v2.Out, v2.Dest = "/elsewhere", "/x"
	if key(t, p, "", v2).Hash != k.Hash {
		t.Error("out-file paths changed the key")
	}
	v2.Mode = "fast"
	if key(t, p, "", v2).Hash == k.Hash {
		t.Error("DropIf dropped a value its predicate rejects")
	}
	// A failing Map function is an error naming the argument, and its error
	// stays visible to errors.Is.
	v2.Client = nil
	_, err := p.Key("", v2)
	var ke *Error
	if !errors.As(err, &ke) || !errors.Is(err, errBad) || !errors.Is(err, ErrUnkeyable) || ke.Path != "args.Client" {
		t.Errorf("Map error: %v", err)
	}
	if !strings.Contains(err.Error(), `MapArg("Client")`) {
		t.Errorf("Map error does not name the rule: %v", err)
	}
}

func TestPlanRuleFunctionsPanic(t *testing.T) {
	type args struct{ A, B int }
	p := compile[args](t,
		Rule{Arg: "A", Kind: RuleMap, Map: func(any) (any, error) { panic("map exploded") }},
		Rule{Arg: "B", Kind: RuleDropIf, Pred: func(any) bool { panic("pred exploded") }})
	_, err := p.Key("", args{})
	if err == nil || !errors.Is(err, ErrUnkeyable) || !strings.Contains(err.Error(), "exploded") {
		t.Fatalf("panicking rule: %v", err)
	}
	// Map results are checked like any value.
	p = compile[args](t, Rule{Arg: "A", Kind: RuleMap, Map: func(any) (any, error) { return []any{func() {}}, nil }})
	_, err = p.Key("", args{})
	var ke *Error
	if !errors.As(err, &ke) || ke.Path != "args.A.MapArg()[0]" {
		t.Errorf("unkeyable Map result: %v", err)
	}
}

func TestPlanRuntimeErrorNamesPath(t *testing.T) {
	type Args struct {
		Items []any
	}
	p := compile[Args](t)
	_, err := p.Key("", Args{Items: []any{1, 2, 3, item{Name: "x", Fn: func() {}}}})
	if err == nil || err.Error() != "keying: Args.Items[3].Fn (func()): funcs cannot be keyed" {
		t.Errorf("error = %v", err)
	}
}

func TestPlanPromotedArguments(t *testing.T) {
	p := compile[withBase](t, Rule{Arg: "Verbose", Kind: RuleIgnore})
	a := key(t, p, "", withBase{Base{true, 1}, 2})
	b := key(t, p, "", withBase{Base{false, 1}, 2})
	if a.Hash != b.Hash {
		t.Error("Ignore on a promoted field did not apply")
	}
	// Flattening an embedded struct keeps keys.
	pf := compile[flat](t, Rule{Arg: "Verbose", Kind: RuleIgnore})
	if key(t, pf, "", flat{false, 1, 2}).Hash != a.Hash {
		t.Error("embedded and flat argument structs key differently")
	}
	// Through a nil embedded pointer, the promoted arguments are absent.
	pp := compile[withPtrBase](t)
	if k := key(t, pp, "", withPtrBase{nil, 2}); !bytes.Equal(k.Bytes, keyBytes(t, "", map[string]int{"X": 2})) {
		t.Errorf("nil embedded pointer: %x", k.Bytes)
	}
}

func TestCompileErrors(t *testing.T) {
	type args struct {
		A       int
		B       int `pcache:",hash"`
		C       string
		Fn      func(int) int
		secret  int
		ignored int `pcache:"-"`
	}
	type okArgs struct {
		A      int
		B      int `pcache:",hash"`
		C      string
		secret int `pcache:"-"`
	}
	type items struct{ Items []item }
	ty := reflect.TypeFor[args]()
	tests := []struct {
		name   string
		t      reflect.Type
		rules  []Rule
		target error
		want   []string
	}{
		{"unknown argument", reflect.TypeFor[okArgs](), []Rule{{Arg: "Nope", Kind: RuleIgnore}}, ErrInvalidRule, []string{`"Nope"`, "okArgs", "arguments: A, B, C"}},
		{"two rules", reflect.TypeFor[okArgs](), []Rule{{Arg: "A", Kind: RuleIgnore}, {Arg: "A", Kind: RuleHash}}, ErrInvalidRule, []string{`"A"`, "two key rules", `Ignore("A")`, `HashArg("A")`}},
		{"tag and rule", reflect.TypeFor[okArgs](), []Rule{{Arg: "B", Kind: RuleString}}, ErrInvalidRule, []string{`"B"`, "two key rules", `tag pcache:",hash"`, `StringArg("B")`}},
		{"rule on unexported", reflect.TypeFor[okArgs](), []Rule{{Arg: "secret", Kind: RuleIgnore}}, ErrInvalidRule, []string{"secret", "unexported"}},
		{"unexported without tag", ty, []Rule{{Arg: "Fn", Kind: RuleIgnore}}, ErrInvalidRule, []string{"secret", "unexported", `pcache:"-"`}},
		{"out on non-string", reflect.TypeFor[okArgs](), []Rule{{Arg: "A", Kind: RuleOut}}, ErrInvalidRule, []string{`OutFile("A")`, "string"}},
		{"nil Map", reflect.TypeFor[okArgs](), []Rule{{Arg: "A", Kind: RuleMap}}, ErrInvalidRule, []string{`MapArg("A")`, "nil Map"}},
		{"nil Pred", reflect.TypeFor[okArgs](), []Rule{{Arg: "A", Kind: RuleDropIf}}, ErrInvalidRule, []string{`DropIf("A")`}},
		{"bad kind", reflect.TypeFor[okArgs](), []Rule{{Arg: "A", Kind: 99}}, ErrInvalidRule, []string{"RuleKind(99)"}},
		{"unkeyable DropIfEqual value", reflect.TypeFor[okArgs](), []Rule{{Arg: "A", Kind: RuleDropIfEqual, Value: func() {}}}, ErrUnkeyable, []string{`DropIfEqual("A")`, "func"}},
		{"rules on a non-struct", reflect.TypeFor[[]int](), []Rule{{Arg: "A", Kind: RuleIgnore}}, ErrInvalidRule, []string{"[]int", "struct"}},
		{"func field", reflect.TypeFor[struct {
			A  int
			Fn func()
		}](), nil, ErrUnkeyable, []string{"value.Fn (func())", "funcs cannot be keyed", `argument "Fn"`}},
		{"nested func", reflect.TypeFor[items](), nil, ErrUnkeyable, []string{"items.Items[*].Fn (func())"}},
		{"string of a func", reflect.TypeFor[struct{ Fn func() }](), []Rule{{Arg: "Fn", Kind: RuleString}}, ErrUnkeyable, []string{"Fn", "address"}},
		{"unkeyable non-struct", reflect.TypeFor[map[string]chan int](), nil, ErrUnkeyable, []string{"chan int"}},
		{"bad tag", reflect.TypeFor[badTag](), nil, ErrInvalidRule, []string{"bogus"}},
		{"collision", reflect.TypeFor[collide](), nil, ErrInvalidRule, []string{"Level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.t, tt.rules)
			if err == nil {
				t.Fatal("Compile succeeded")
			}
			if !errors.Is(err, tt.target) {
				t.Errorf("error %q does not unwrap to %v", err, tt.target)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// The fixes those errors suggest work.
	for _, rules := range [][]Rule{
		{{Arg: "Fn", Kind: RuleIgnore}},
		{{Arg: "Fn", Kind: RuleMap, Map: func(any) (any, error) { return "f", nil }}},
	} {
		if _, err := Compile(reflect.TypeFor[struct {
			A  int
			Fn func()
		}](), rules); err != nil {
			t.Errorf("Compile with %v: %v", rules, err)
		}
	}
	if _, err := Compile(nil, nil); !errors.Is(err, ErrInvalidRule) {
		t.Errorf("Compile(nil) = %v", err)
	}
}

func TestPlanConcurrent(t *testing.T) {
	p := compile[NewArgsTag](t)
	want := key(t, p, "v", NewArgsTag{"a", 1, 2}).Hash
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				k, err := p.Key("v", NewArgsTag{"a", 1, 2})
				if err != nil || k.Hash != want {
					t.Errorf("concurrent Key: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestDiagnoseRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0x83, 0x01}, {0xff}, {0x01, 0x02}} {
		if _, err := Diagnose(b); err == nil {
			t.Errorf("Diagnose(%x) succeeded", b)
		}
	}
}

// keyValueCase keys v through Key and through KeyValue of a variable of
// type A holding it (as a batch keys its elements in place), and wants the
// same key, or the same error.
func keyValueCase[A any](t *testing.T, v A) {
	t.Helper()
	p := compile[A](t)
	want, werr := p.Key("v1", v)
	got, gerr := p.KeyValue("v1", reflect.ValueOf(&v).Elem())
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("%T: Key error %v, KeyValue error %v", v, werr, gerr)
	}
	if got.Hash != want.Hash || !bytes.Equal(got.Bytes, want.Bytes) {
		t.Fatalf("%T %v: KeyValue gives %x, Key %x", v, v, got.Hash[:6], want.Hash[:6])
	}
}

// TestPlanKeyValue: KeyValue of an argument held in place is Key of the
// argument, for struct, pointer, interface and scalar argument types, a
// nil pointer (the same error) and an interface holding nothing.
func TestPlanKeyValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"struct", func(t *testing.T) { keyValueCase(t, OldArgs{A: "a", N: 3}) }},
		{"pointer to struct", func(t *testing.T) { keyValueCase(t, &OldArgs{A: "a", N: 3}) }},
		{"nil pointer", func(t *testing.T) { keyValueCase[*OldArgs](t, nil) }},
		{"interface holding a struct", func(t *testing.T) { keyValueCase[any](t, OldArgs{A: "a", N: 3}) }},
		{"interface holding nothing", func(t *testing.T) { keyValueCase[any](t, nil) }},
		{"scalar", func(t *testing.T) { keyValueCase(t, 42) }},
		{"slice", func(t *testing.T) { keyValueCase(t, []string{"x", "y"}) }},
	} {
		t.Run(tc.name, tc.run)
	}
	// A value of another type than the plan's is refused by both, naming it.
	p := compile[OldArgs](t)
	_, err := p.KeyValue("v1", reflect.ValueOf(NewArgs{}))
	if err == nil || !strings.Contains(err.Error(), "keying.NewArgs") {
		t.Fatalf("KeyValue of another type: %v", err)
	}
	if _, err := p.Key("v1", nil); err == nil || !strings.Contains(err.Error(), "<nil>") {
		t.Fatalf("Key of nil for a struct plan: %v", err)
	}
}

// selfCaching has a pointer-receiver CacheKey that writes to its receiver,
// as a method that caches its own key would.
type selfCaching struct {
	N    int
	memo string
}

func (s *selfCaching) CacheKey() (any, error) {
	s.memo = fmt.Sprint("n=", s.N)
	return s.memo, nil
}

// TestKeyValueLeavesArgumentsAlone: keying an argument in place (as a
// batch does) calls pointer-receiver methods on a copy, never on the
// caller's value, and gives the key Key gives.
func TestKeyValueLeavesArgumentsAlone(t *testing.T) {
	type args struct {
		A selfCaching
		B []selfCaching
	}
	p := compile[args](t)
	v := args{A: selfCaching{N: 1}, B: []selfCaching{{N: 2}}}
	want := key(t, p, "v1", v)
	got, err := p.KeyValue("v1", reflect.ValueOf(&v).Elem())
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != want.Hash {
		t.Fatalf("KeyValue %x, Key %x", got.Hash[:6], want.Hash[:6])
	}
	if v.A.memo != "" || v.B[0].memo != "" {
		t.Fatalf("keying wrote to the argument: %+v", v)
	}
}
