package keying

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDistinguishableValuesSplit: every pair below was keyed alike in
// revision 1 of key format 1, and a function can tell its two values apart;
// revision 2 keys them apart. The first value of each pair keeps its
// revision-1 bytes (want), so entries stored for it still hit.
func TestDistinguishableValuesSplit(t *testing.T) {
	neg0 := math.Copysign(0, -1)
	at := time.Date(2024, 1, 15, 14, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		kept any    // keeps its revision-1 encoding
		want string // that encoding
		new  any    // keyed apart from kept
	}{
		{"zone", at, "d903e9a1011a65a54168", at.In(time.FixedZone("EST", -5*3600))},
		{"zone, same offset", at, "d903e9a1011a65a54168", at.In(time.FixedZone("GMT", 0))},
		{"zone, same abbreviation and offset", at.In(time.FixedZone("EST", -5*3600)), "", at.In(time.FixedZone("US/Eastern", -5*3600))},
		{"signed zero", 0.0, "f90000", neg0},
		{"signed zero float32", float32(0), "f90000", float32(neg0)},
		{"signed zero in a typed array", []float64{0}, "d856480000000000000000", []float64{neg0}},
		{"type in any: int64", []any{1}, "8101", []any{int64(1)}},
		{"type in any: uint8", []any{1}, "8101", []any{uint8(1)}},
		{"type in any: int64 vs uint8", []any{int64(1)}, "", []any{uint8(1)}},
		{"type in any: float32", []any{1.5}, "81f93e00", []any{float32(1.5)}},
		{"type in any: named string", []any{"fast"}, "816466617374", []any{goldenMode("fast")}},
		{"type in any: Duration", []any{1}, "8101", []any{time.Nanosecond}},
		{"type in any: pointer", []any{7}, "8107", []any{ptrTo(7)}},
		{"type in any: nil pointer", []any{nil}, "81f6", []any{(*int)(nil)}},
		{"type in any: []string", []any{[]any{"a"}}, "81816161", []any{[]string{"a"}}},
		{"type in any: map", []any{map[string]any{"a": 1}}, "81a1616101", []any{map[string]int{"a": 1}}},
		{"type in any: struct", []any{map[string]any{"A": "a", "N": 2}}, "81a261416161614e02", []any{OldArgs{"a", 2}}},
		{"type in any: invalid UTF-8 string", []any{[]byte("a\xffb")}, "814361ff62", []any{"a\xffb"}},
		{"type in any: []int64", []any{[]int{1}}, "81d84f480100000000000000", []any{[]int64{1}}},
		{"nil vs empty slice", []string(nil), "80", []string{}},
		{"nil vs empty bytes", []byte(nil), "40", []byte{}},
		{"nil vs empty typed", []int(nil), "d84f40", []int{}},
		{"nil vs empty map", map[string]int(nil), "a0", map[string]int{}},
		{"nil vs empty field", struct{ S []string }{}, "a1615380", struct{ S []string }{S: []string{}}},
		{"nil vs empty in any", []any{[]any(nil)}, "8180", []any{[]any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, n := hexOf(t, tt.kept), hexOf(t, tt.new)
			if tt.want != "" && kept != tt.want {
				t.Errorf("%#v = %s, want its revision-1 bytes %s", tt.kept, kept, tt.want)
			}
			if kept == n {
				t.Errorf("%#v and %#v both key as %s", tt.kept, tt.new, kept)
			}
			hk, _ := StableHash(tt.kept)
			hn, _ := StableHash(tt.new)
			if hk == hn {
				t.Errorf("StableHash merges %#v and %#v", tt.kept, tt.new)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestUnaffectedValuesKeepBytes pins values whose encoding revision 2 does
// not change, including the plain types behind an interface.
func TestUnaffectedValuesKeepBytes(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{time.Unix(0, 0).UTC(), "d903e9a10100"},
		{time.Unix(0, 0).In(time.FixedZone("UTC", 0)), "d903e9a10100"},
		{time.Unix(0, 0), "d903e9a10100"}, // Local, which is UTC in these tests
		{int64(1), "01"},
		{uint8(1), "01"},
		{float32(1.5), "f93e00"},
		{goldenMode("fast"), "6466617374"},
		{[]float64{1, math.NaN()}, "d85650000000000000f03f000000000000f87f"},
		{[0]int{}, "d84f40"},
		{[]any{1, "x", nil, true, 2.5, []byte{1}}, "86016178f6f5f941004101"},
		{map[any]any{"s": 1, 2: "i", 1.5: nil, false: []int8{1}}, "a4026169617301f4d8484101f93e00f6"},
		{[]any{time.Unix(1, 0).UTC(), []int8{1}, []float64{1}, goldenHasher{"y"}}, "84d903e9a10101d8484101d85648000000000000f03f826c676f6c64656e4861736865726179"},
	}
	for _, tt := range tests {
		if got := hexOf(t, tt.v); got != tt.want {
			t.Errorf("%#v = %s, want %s", tt.v, got, tt.want)
		}
	}
}

// TestInterfacePlanKeysDynamicType: a function whose argument type is an
// interface sees the dynamic type, so its key carries it (unless plain).
func TestInterfacePlanKeysDynamicType(t *testing.T) {
	p := compile[any](t)
	if k := key(t, p, "", 1); !bytes.Equal(k.Bytes, keyBytes(t, "", 1)) {
		t.Errorf("int argument: %x", k.Bytes)
	}
	seen := map[[32]byte]any{}
	for _, v := range []any{1, int64(1), uint8(1), 1.0, float32(1), "1", goldenMode("1"), nil, (*int)(nil)} {
		k := key(t, p, "", v)
		if w, dup := seen[k.Hash]; dup {
			t.Errorf("%#v and %#v share a key", v, w)
		}
		seen[k.Hash] = v
	}
}

// TestDropIfEqualOnInterfaceArgument compares with the value as held in the
// interface, so only a value of that type is dropped.
func TestDropIfEqualOnInterfaceArgument(t *testing.T) {
	type args struct {
		Q string
		V any
	}
	p := compile[args](t, Rule{Arg: "V", Kind: RuleDropIfEqual, Value: goldenMode("x")})
	ign := compile[args](t, Rule{Arg: "V", Kind: RuleIgnore})
	if key(t, p, "", args{"q", goldenMode("x")}).Hash != key(t, ign, "", args{"q", goldenMode("x")}).Hash {
		t.Error(`goldenMode("x") was not dropped`)
	}
	if key(t, p, "", args{"q", "x"}).Hash == key(t, ign, "", args{"q", "x"}).Hash {
		t.Error(`the string "x" was dropped by DropIfEqual(goldenMode("x"))`)
	}
}

type instantArgs struct {
	At    time.Time
	Times []time.Time
	Any   any
	Sub   struct {
		T time.Time `pcache:",instant"`
	}
	Plain time.Time
}

// TestInstantRule: InstantArg and the ,instant tag key every time in the
// argument by its instant alone (the UTC encoding), and nothing else.
func TestInstantRule(t *testing.T) {
	at := time.Date(2024, 1, 15, 14, 30, 0, 5, time.UTC)
	est := at.In(time.FixedZone("EST", -5*3600))
	p := compile[instantArgs](t, Rule{Arg: "At", Kind: RuleInstant}, Rule{Arg: "Times", Kind: RuleInstant}, Rule{Arg: "Any", Kind: RuleInstant})
	mk := func(tm time.Time, plain time.Time) instantArgs {
		a := instantArgs{At: tm, Times: []time.Time{tm, tm}, Any: tm, Plain: plain}
		a.Sub.T = tm
		return a
	}
	if a, b := key(t, p, "", mk(at, at)), key(t, p, "", mk(est, at)); a.Hash != b.Hash {
		t.Errorf("InstantArg kept the zone:\n%x\n%x", a.Bytes, b.Bytes)
	}
	if a, b := key(t, p, "", mk(at, at)), key(t, p, "", mk(at, est)); a.Hash == b.Hash {
		t.Error("a time without the rule lost its zone")
	}
	// The UTC encoding: args are what marshal gives the UTC value.
	if k := key(t, p, "", mk(est, at)); !bytes.Equal(k.Bytes, keyBytes(t, "", mk(at, at))) {
		t.Errorf("InstantArg key %x is not the UTC encoding", k.Bytes)
	}
	// A nested ,instant tag applies through StableHash too.
	if hexOf(t, mk(at, at).Sub) != hexOf(t, mk(est, at).Sub) {
		t.Error(",instant in a nested struct kept the zone")
	}
}

func TestInstantRuleErrors(t *testing.T) {
	type noTime struct {
		N int
		S []string
	}
	_, err := Compile(reflect.TypeFor[noTime](), []Rule{{Arg: "N", Kind: RuleInstant}})
	if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), "never hold a time.Time") {
		t.Errorf("InstantArg on an int: %v", err)
	}
	type twoRules struct {
		T time.Time `pcache:",instant"`
	}
	if _, err := Compile(reflect.TypeFor[twoRules](), []Rule{{Arg: "T", Kind: RuleHash}}); !errors.Is(err, ErrInvalidRule) {
		t.Errorf(",instant and HashArg: %v", err)
	}
	type badTag struct {
		N int `pcache:",instant"`
	}
	if _, err := StableHash(badTag{}); err == nil || !strings.Contains(err.Error(), "never hold a time.Time") {
		t.Errorf(",instant on an int: %v", err)
	}
	type combined struct {
		T time.Time `pcache:",instant,hash"`
	}
	if _, err := StableHash(combined{}); err == nil || !strings.Contains(err.Error(), "two key rules") {
		t.Errorf(",instant,hash: %v", err)
	}
	if got := RuleInstant.String(); got != "InstantArg" {
		t.Errorf("RuleInstant.String() = %q", got)
	}
}

// TestDescribeShowsZone: pcache-fsck renders a zoned time with its zone, so
// two keys of one instant in two zones do not look alike.
func TestDescribeShowsZone(t *testing.T) {
	type args struct{ T time.Time }
	p := compile[args](t)
	k := key(t, p, "", args{time.Unix(0, 5).In(time.FixedZone("EST", -5*3600))})
	d, err := Describe(k.Bytes)
	if err != nil || len(d.Args) != 1 || d.Args[0].Value != "1969-12-31T19:00:00.000000005-05:00 EST[EST]" {
		t.Errorf("Describe = %+v, %v", d, err)
	}
	k = key(t, p, "", args{time.Unix(0, 5).UTC()})
	if d, err := Describe(k.Bytes); err != nil || d.Args[0].Value != "1970-01-01T00:00:00.000000005Z" {
		t.Errorf("Describe = %+v, %v", d, err)
	}
}
