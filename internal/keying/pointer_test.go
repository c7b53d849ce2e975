package keying

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// ptrArgs is an argument struct used through a pointer.
type ptrArgs struct {
	Input   []float64
	Name    string `pcache:"name"`
	Verbose bool   `pcache:"-"`
	Limit   int    `pcache:",omitzero"`
	Blob    []byte `pcache:",hash"`
	Out     string `pcache:",out"`
	Dest    string
	Mode    string
	Level   float64
	secret  int `pcache:"-"`
}

// ptrArgsUnexported has an unexported field that is not tagged "-".
type ptrArgsUnexported struct {
	A      int
	hidden int
}

func TestPlanPointerToStruct(t *testing.T) {
	pt := reflect.TypeFor[*ptrArgs]()
	st := reflect.TypeFor[ptrArgs]()
	tests := []struct {
		name  string
		rules []Rule
	}{
		{"tags only", nil},
		{"ignore", []Rule{{Arg: "Mode", Kind: RuleIgnore}}},
		{"hash", []Rule{{Arg: "Input", Kind: RuleHash}}},
		{"string", []Rule{{Arg: "Level", Kind: RuleString}}},
		{"map", []Rule{{Arg: "Mode", Kind: RuleMap, Map: func(x any) (any, error) { return strings.ToUpper(x.(string)), nil }}}},
		{"drop if equal", []Rule{{Arg: "Mode", Kind: RuleDropIfEqual, Value: "default"}}},
		{"drop if equal converted", []Rule{{Arg: "Level", Kind: RuleDropIfEqual, Value: 0}}},
		{"drop if", []Rule{{Arg: "Mode", Kind: RuleDropIf, Pred: func(x any) bool { return x == "" }}}},
		{"out file", []Rule{{Arg: "Dest", Kind: RuleOut}}},
		{"composed", []Rule{{Arg: "Mode", Kind: RuleDropIfEqual, Value: "default"}, {Arg: "Mode", Kind: RuleHash}}},
	}
	values := []*ptrArgs{
		{},
		{Input: []float64{1, 2}, Name: "n", Verbose: true, Limit: 3, Blob: []byte("b"), Out: "/o", Dest: "/d", Mode: "default", Level: 0.5, secret: 9},
		{Name: "x", Mode: "fast", Level: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pp, err := Compile(pt, tt.rules)
			if err != nil {
				t.Fatalf("Compile(*ptrArgs): %v", err)
			}
			sp, err := Compile(st, tt.rules)
			if err != nil {
				t.Fatalf("Compile(ptrArgs): %v", err)
			}
			if pp.Type() != pt {
				t.Errorf("Type() = %v, want %v", pp.Type(), pt)
			}
			if !reflect.DeepEqual(pp.Args(), sp.Args()) || !reflect.DeepEqual(pp.OutArgs(), sp.OutArgs()) {
				t.Errorf("Args/OutArgs %v %v, want %v %v", pp.Args(), pp.OutArgs(), sp.Args(), sp.OutArgs())
			}
			for i, v := range values {
				kp := key(t, pp, "v1", v)
				ks := key(t, sp, "v1", *v)
				if kp.Hash != ks.Hash || !bytes.Equal(kp.Bytes, ks.Bytes) || !reflect.DeepEqual(kp.Outs, ks.Outs) {
					t.Errorf("value %d: pointer key %x %v, struct key %x %v", i, kp.Bytes, kp.Outs, ks.Bytes, ks.Outs)
				}
			}
			_, err = pp.Key("v1", (*ptrArgs)(nil))
			if !errors.Is(err, ErrNilArgument) || errors.Is(err, ErrUnkeyable) {
				t.Errorf("nil pointer: %v", err)
			}
			if err == nil || !strings.HasPrefix(err.Error(), "keying: argument is a nil *keying.ptrArgs") {
				t.Errorf("nil pointer message: %v", err)
			}
			if _, err := pp.Key("v1", ptrArgs{}); err == nil || !strings.Contains(err.Error(), "keying.ptrArgs") {
				t.Errorf("Key(*S plan, S value) = %v, want a type error", err)
			}
		})
	}
}

// TestPlanPointerKeysUnchanged pins that a pointer argument without rules
// keys exactly as it did when pointers were keyed as a whole: args is
// marshal(*p).
func TestPlanPointerKeysUnchanged(t *testing.T) {
	p := compile[*goldenArgs](t)
	for _, v := range []*goldenArgs{
		{},
		{Input: []float64{1, 2}, Name: "n", Blob: []byte{1}, Out: "/o", Limit: 4},
	} {
		k := key(t, p, "v1", v)
		if want := keyBytes(t, "v1", v); !bytes.Equal(k.Bytes, want) {
			t.Errorf("key %x, want %x", k.Bytes, want)
		}
		if !reflect.DeepEqual(k.Outs, []OutArg{{"Out", v.Out}}) {
			t.Errorf("Outs = %v: the ,out tag of a pointer argument is not ignored any more", k.Outs)
		}
	}
}

func TestPlanPointerCompileErrors(t *testing.T) {
	type twoPtr = **ptrArgs
	tests := []struct {
		name   string
		t      reflect.Type
		rules  []Rule
		target error
		want   []string
	}{
		{"unknown argument", reflect.TypeFor[*ptrArgs](), []Rule{{Arg: "Nope", Kind: RuleIgnore}}, ErrInvalidRule, []string{"*keying.ptrArgs", `"Nope"`, "arguments: Input, name"}},
		{"tag and rule", reflect.TypeFor[*ptrArgs](), []Rule{{Arg: "Blob", Kind: RuleString}}, ErrInvalidRule, []string{"*keying.ptrArgs", `"Blob"`, "two key rules"}},
		{"out on non-string", reflect.TypeFor[*ptrArgs](), []Rule{{Arg: "Level", Kind: RuleOut}}, ErrInvalidRule, []string{`OutFile("Level")`, "float64"}},
		{"bad DropIfEqual value", reflect.TypeFor[*ptrArgs](), []Rule{{Arg: "Limit", Kind: RuleDropIfEqual, Value: 1.5}}, ErrInvalidRule, []string{`"Limit"`}},
		{"unexported field", reflect.TypeFor[*ptrArgsUnexported](), nil, ErrInvalidRule, []string{"*keying.ptrArgsUnexported", "hidden", `pcache:"-"`}},
		{"two levels", reflect.TypeFor[twoPtr](), []Rule{{Arg: "Mode", Kind: RuleIgnore}}, ErrInvalidRule, []string{"**keying.ptrArgs", "keyed as a whole"}},
		{"pointer to a CacheKey struct", reflect.TypeFor[*ownKeyed](), []Rule{{Arg: "Name", Kind: RuleIgnore}}, ErrInvalidRule, []string{"*keying.ownKeyed", "keyed as a whole"}},
		{"pointer to a pointer-receiver CacheKey struct", reflect.TypeFor[*ptrKeyed](), []Rule{{Arg: "N", Kind: RuleIgnore}}, ErrInvalidRule, []string{"*keying.ptrKeyed", "keyed as a whole"}},
		{"pointer to time", reflect.TypeFor[*time.Time](), []Rule{{Arg: "wall", Kind: RuleIgnore}}, ErrInvalidRule, []string{"*time.Time", "keyed as a whole"}},
		{"pointer to func field", reflect.TypeFor[*struct{ Fn func() }](), nil, ErrUnkeyable, []string{"value.Fn (func())", `argument "Fn"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.t, tt.rules)
			if !errors.Is(err, tt.target) {
				t.Fatalf("Compile(%v) = %v, want %v", tt.t, err, tt.target)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// Pointers that are not to argument structs are keyed as a whole, nil
// included, as before.
func TestPlanOtherPointersKeyedWhole(t *testing.T) {
	n := 5
	tests := []struct {
		name string
		p    *Plan
		v    any
	}{
		{"*int", compile[*int](t), &n},
		{"nil *int", compile[*int](t), (*int)(nil)},
		{"**S", compile[**OldArgs](t), new(*OldArgs)},
		{"*time.Time", compile[*time.Time](t), &time.Time{}},
		{"nil *time.Time", compile[*time.Time](t), (*time.Time)(nil)},
		{"*CacheKey struct", compile[*ownKeyed](t), &ownKeyed{keyedByName{Name: "n"}, 1}},
	}
	for _, tt := range tests {
		k := key(t, tt.p, "", tt.v)
		if want := keyBytes(t, "", tt.v); !bytes.Equal(k.Bytes, want) {
			t.Errorf("%s: key %x, want %x", tt.name, k.Bytes, want)
		}
	}
}
