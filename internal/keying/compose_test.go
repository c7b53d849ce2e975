package keying

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// composeArgs has arguments that take a drop rule and a key rule at once.
type composeArgs struct {
	Blob  []byte
	Name  string
	Level float64
	N     int
	Fn    func()
}

// composeTagged declares the same compositions with tags.
type composeTagged struct {
	Blob  []byte  `pcache:",hash,omitzero"`
	Name  string  `pcache:"name,omitzero,string"`
	Level float64 `pcache:",omitzero,hash"`
	N     int
}

func TestComposedRules(t *testing.T) {
	mapCalls := 0
	lenOf := func(x any) (any, error) { mapCalls++; return len(x.([]byte)), nil }
	sum := func(v any) []byte {
		s, err := sumOf(v)
		if err != nil {
			t.Fatal(err)
		}
		return s[:]
	}
	noBlob := []byte(nil)
	tests := []struct {
		name  string
		rules []Rule
		v     composeArgs
		want  map[string]any // the args map of the key
	}{
		{"hash+dropifequal dropped", []Rule{{Arg: "Blob", Kind: RuleHash}, {Arg: "Blob", Kind: RuleDropIfEqual, Value: []byte("skip")}},
			composeArgs{Blob: []byte("skip"), N: 1}, map[string]any{"N": 1, "Name": "", "Level": 0.0}},
		{"hash+dropifequal kept", []Rule{{Arg: "Blob", Kind: RuleDropIfEqual, Value: []byte("skip")}, {Arg: "Blob", Kind: RuleHash}},
			composeArgs{Blob: []byte("data"), N: 1}, map[string]any{"Blob": sum([]byte("data")), "N": 1, "Name": "", "Level": 0.0}},
		{"map+dropif dropped", []Rule{{Arg: "Blob", Kind: RuleMap, Map: lenOf}, {Arg: "Blob", Kind: RuleDropIf, Pred: func(x any) bool { return len(x.([]byte)) == 0 }}},
			composeArgs{N: 2}, map[string]any{"N": 2, "Name": "", "Level": 0.0}},
		{"map+dropif kept", []Rule{{Arg: "Blob", Kind: RuleDropIf, Pred: func(x any) bool { return len(x.([]byte)) == 0 }}, {Arg: "Blob", Kind: RuleMap, Map: lenOf}},
			composeArgs{Blob: []byte("abc"), N: 2}, map[string]any{"Blob": 3, "N": 2, "Name": "", "Level": 0.0}},
		{"string+dropifequal converted", []Rule{{Arg: "Level", Kind: RuleString}, {Arg: "Level", Kind: RuleDropIfEqual, Value: 0}},
			composeArgs{Level: 0}, map[string]any{"Blob": noBlob, "N": 0, "Name": ""}},
		{"string+dropifequal kept", []Rule{{Arg: "Level", Kind: RuleString}, {Arg: "Level", Kind: RuleDropIfEqual, Value: 0}},
			composeArgs{Level: 2.5}, map[string]any{"Blob": noBlob, "Level": "2.5", "N": 0, "Name": ""}},
		{"map+dropifequal on raw value", []Rule{{Arg: "Name", Kind: RuleMap, Map: func(x any) (any, error) { return "mapped", nil }}, {Arg: "Name", Kind: RuleDropIfEqual, Value: "mapped"}},
			composeArgs{Name: "raw"}, map[string]any{"Blob": noBlob, "Name": "mapped", "N": 0, "Level": 0.0}},
		{"map+dropif on func field", []Rule{{Arg: "Fn", Kind: RuleMap, Map: func(x any) (any, error) { return "f", nil }}, {Arg: "Fn", Kind: RuleDropIf, Pred: func(x any) bool { return x.(func()) == nil }}},
			composeArgs{Fn: func() {}}, map[string]any{"Blob": noBlob, "Fn": "f", "N": 0, "Name": "", "Level": 0.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := tt.rules
			if _, keyed := tt.want["Fn"]; !keyed {
				rules = append(rules, Rule{Arg: "Fn", Kind: RuleIgnore})
			}
			p := compile[composeArgs](t, rules...)
			k := key(t, p, "v", tt.v)
			want := keyBytes(t, "v", tt.want)
			if !bytes.Equal(k.Bytes, want) {
				got, _ := Diagnose(k.Bytes)
				w, _ := Diagnose(want)
				t.Errorf("key\n got %s\nwant %s", got, w)
			}
		})
	}
	// The drop rule comes first: a dropped argument's Map is never called.
	mapCalls = 0
	p := compile[composeArgs](t, Rule{Arg: "Fn", Kind: RuleIgnore},
		Rule{Arg: "Blob", Kind: RuleMap, Map: lenOf}, Rule{Arg: "Blob", Kind: RuleDropIfEqual, Value: nil})
	key(t, p, "", composeArgs{})
	if mapCalls != 0 {
		t.Errorf("Map called %d times for a dropped argument", mapCalls)
	}
	key(t, p, "", composeArgs{Blob: []byte{1}})
	if mapCalls != 1 {
		t.Errorf("Map called %d times for a kept argument", mapCalls)
	}
}

// Tags compose like rules, in any order, and give the same keys.
func TestComposedTags(t *testing.T) {
	type ruled struct {
		Blob  []byte
		Name  string `pcache:"name"`
		Level float64
		N     int
	}
	pt := compile[composeTagged](t)
	pr := compile[ruled](t,
		Rule{Arg: "Blob", Kind: RuleHash}, Rule{Arg: "Blob", Kind: RuleDropIfEqual, Value: nil},
		Rule{Arg: "name", Kind: RuleString}, Rule{Arg: "name", Kind: RuleDropIfEqual, Value: ""},
		Rule{Arg: "Level", Kind: RuleDropIfEqual, Value: 0}, Rule{Arg: "Level", Kind: RuleHash})
	// Half-tag, half-rule compositions.
	type halfA struct {
		Blob  []byte `pcache:",omitzero"`
		Name  string `pcache:"name,string"`
		Level float64
		N     int
	}
	ph := compile[halfA](t, Rule{Arg: "Blob", Kind: RuleHash}, Rule{Arg: "name", Kind: RuleDropIf, Pred: func(x any) bool { return x == "" }},
		Rule{Arg: "Level", Kind: RuleHash}, Rule{Arg: "Level", Kind: RuleDropIf, Pred: func(x any) bool { return x == 0.0 }})
	for _, v := range []composeTagged{{}, {Blob: []byte("b")}, {Name: "n", Level: 1.5, N: 3}, {Blob: []byte{}, Name: "", Level: 0, N: 1}} {
		kt := key(t, pt, "", v)
		kr := key(t, pr, "", ruled(v))
		kh := key(t, ph, "", halfA(v))
		if kt.Hash != kr.Hash || kt.Hash != kh.Hash {
			a, _ := Diagnose(kt.Bytes)
			b, _ := Diagnose(kr.Bytes)
			c, _ := Diagnose(kh.Bytes)
			t.Errorf("%+v: tags %s, rules %s, half %s", v, a, b, c)
		}
		// Marshal applies the same tags to a nested struct.
		if !bytes.Equal(kt.Bytes[3:], mustMarshal(t, v)) {
			t.Errorf("%+v: Plan.Key args %x != Marshal %x", v, kt.Bytes[3:], mustMarshal(t, v))
		}
	}
	k := key(t, pt, "", composeTagged{Blob: []byte("b"), Name: "n"})
	sb, _ := sumOf([]byte("b"))
	if want := keyBytes(t, "", map[string]any{"Blob": sb[:], "name": "n", "N": 0}); !bytes.Equal(k.Bytes, want) {
		t.Errorf("key %x, want %x", k.Bytes, want)
	}
	// In a nested value, too.
	type outer struct{ In composeTagged }
	if got, want := hexOf(t, outer{composeTagged{N: 2}}), hexOf(t, map[string]map[string]int{"In": {"N": 2}}); got != want {
		t.Errorf("nested composed tags: %s, want %s", got, want)
	}
}

func TestComposedRuleErrors(t *testing.T) {
	pred := func(any) bool { return false }
	mapf := func(x any) (any, error) { return x, nil }
	type tagHash struct {
		A int `pcache:",hash"`
	}
	type tagOmit struct {
		A int `pcache:",omitzero"`
	}
	type tagOut struct {
		A string `pcache:",out"`
	}
	type tagIgnored struct {
		A int `pcache:"-"`
	}
	type tagOutOmit struct {
		A string `pcache:",out,omitzero"`
	}
	type tagTwoKeys struct {
		A int `pcache:"a,string,hash"`
	}
	type tagTwoDrops struct {
		A int `pcache:",omitzero,hash,omitzero"`
	}
	type plain struct{ A, B int }
	type funcField struct{ Fns []func() }
	tests := []struct {
		name   string
		t      reflect.Type
		rules  []Rule
		target error
		want   []string
	}{
		{"two drop rules", reflect.TypeFor[plain](), []Rule{{Arg: "A", Kind: RuleDropIf, Pred: pred}, {Arg: "A", Kind: RuleDropIfEqual, Value: 0}},
			ErrInvalidRule, []string{`argument "A" has two drop rules`, `DropIf("A")`, `DropIfEqual("A")`}},
		{"omitzero and DropIfEqual", reflect.TypeFor[tagOmit](), []Rule{{Arg: "A", Kind: RuleDropIfEqual, Value: 1}},
			ErrInvalidRule, []string{"two drop rules", `tag pcache:",omitzero"`, `DropIfEqual("A")`}},
		{"omitzero and DropIf", reflect.TypeFor[tagOmit](), []Rule{{Arg: "A", Kind: RuleDropIf, Pred: pred}},
			ErrInvalidRule, []string{"two drop rules", `tag pcache:",omitzero"`, `DropIf("A")`}},
		{"two key rules", reflect.TypeFor[plain](), []Rule{{Arg: "A", Kind: RuleHash}, {Arg: "A", Kind: RuleMap, Map: mapf}},
			ErrInvalidRule, []string{`argument "A" has two key rules`, `HashArg("A")`, `MapArg("A")`}},
		{"hash tag and MapArg", reflect.TypeFor[tagHash](), []Rule{{Arg: "A", Kind: RuleMap, Map: mapf}},
			ErrInvalidRule, []string{"two key rules", `tag pcache:",hash"`, `MapArg("A")`}},
		{"Ignore then DropIf", reflect.TypeFor[plain](), []Rule{{Arg: "A", Kind: RuleIgnore}, {Arg: "A", Kind: RuleDropIf, Pred: pred}},
			ErrInvalidRule, []string{`argument "A"`, `Ignore("A")`, `DropIf("A")`, "Ignore takes no other rule"}},
		{"DropIf then Ignore", reflect.TypeFor[plain](), []Rule{{Arg: "A", Kind: RuleDropIf, Pred: pred}, {Arg: "A", Kind: RuleIgnore}},
			ErrInvalidRule, []string{`DropIf("A")`, `Ignore("A")`, "Ignore takes no other rule"}},
		{"Ignore and HashArg", reflect.TypeFor[plain](), []Rule{{Arg: "A", Kind: RuleHash}, {Arg: "A", Kind: RuleIgnore}},
			ErrInvalidRule, []string{"two key rules", `HashArg("A")`, `Ignore("A")`}},
		{"ignored tag and DropIfEqual", reflect.TypeFor[tagIgnored](), []Rule{{Arg: "A", Kind: RuleDropIfEqual, Value: 0}},
			ErrInvalidRule, []string{`tag pcache:"-"`, `DropIfEqual("A")`, "Ignore takes no other rule"}},
		{"out tag and DropIfEqual", reflect.TypeFor[tagOut](), []Rule{{Arg: "A", Kind: RuleDropIfEqual, Value: ""}},
			ErrInvalidRule, []string{`tag pcache:",out"`, `DropIfEqual("A")`, "OutFile takes no other rule"}},
		{"DropIf and OutFile", reflect.TypeFor[tagOmit](), []Rule{{Arg: "A", Kind: RuleOut}},
			ErrInvalidRule, []string{`tag pcache:",omitzero"`, `OutFile("A")`, "OutFile takes no other rule"}},
		{"out with omitzero tag", reflect.TypeFor[tagOutOmit](), nil, ErrInvalidRule, []string{"field A", `pcache:",out,omitzero"`, "out"}},
		{"two key options", reflect.TypeFor[tagTwoKeys](), nil, ErrInvalidRule, []string{"field A", `pcache:"a,string,hash"`, "two key rules, string and hash"}},
		{"omitzero twice", reflect.TypeFor[tagTwoDrops](), nil, ErrInvalidRule, []string{"field A", "two drop rules"}},
		{"DropIfEqual compares an unkeyable raw value", reflect.TypeFor[funcField](), []Rule{{Arg: "Fns", Kind: RuleMap, Map: mapf}, {Arg: "Fns", Kind: RuleDropIfEqual, Value: nil}},
			ErrUnkeyable, []string{"funcField.Fns[*] (func())", `DropIfEqual("Fns")`, "DropIf instead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.t, tt.rules)
			if !errors.Is(err, tt.target) {
				t.Fatalf("Compile = %v, want %v", err, tt.target)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// Marshal refuses the bad tags in nested values too.
	for _, v := range []any{tagOutOmit{}, tagTwoKeys{}, tagTwoDrops{}} {
		if _, err := marshal(v); !errors.Is(err, ErrUnkeyable) {
			t.Errorf("marshal(%T) = %v", v, err)
		}
	}
}

// A single rule keys an argument exactly as before the rules composed.
func TestSingleRuleKeysUnchanged(t *testing.T) {
	type args struct {
		A []byte
		B string
	}
	v := args{A: []byte("x"), B: "b"}
	sa, _ := sumOf(v.A)
	tests := []struct {
		rule Rule
		want map[string]any
	}{
		{Rule{Arg: "A", Kind: RuleHash}, map[string]any{"A": sa[:], "B": "b"}},
		{Rule{Arg: "B", Kind: RuleString}, map[string]any{"A": v.A, "B": "b"}},
		{Rule{Arg: "A", Kind: RuleMap, Map: func(x any) (any, error) { return len(x.([]byte)), nil }}, map[string]any{"A": 1, "B": "b"}},
		{Rule{Arg: "B", Kind: RuleDropIfEqual, Value: "b"}, map[string]any{"A": v.A}},
		{Rule{Arg: "B", Kind: RuleDropIf, Pred: func(x any) bool { return x == "b" }}, map[string]any{"A": v.A}},
		{Rule{Arg: "B", Kind: RuleIgnore}, map[string]any{"A": v.A}},
	}
	for _, tt := range tests {
		p := compile[args](t, tt.rule)
		if k, want := key(t, p, "", v), keyBytes(t, "", tt.want); !bytes.Equal(k.Bytes, want) {
			t.Errorf("%v: key %x, want %x", tt.rule, k.Bytes, want)
		}
	}
}
