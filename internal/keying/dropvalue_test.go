package keying

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

type (
	dvMode  string
	dvFlag  bool
	dvLevel int
	dvPoint struct{ X, Y int }
	dvOther struct{ X, Y int }
)

// dvArgs has one argument of every kind a DropIfEqual value may be
// converted to.
type dvArgs struct {
	I    int
	I8   int8
	I64  int64
	U    uint
	U8   uint8
	U64  uint64
	F    float64
	F32  float32
	B    bool
	Flag dvFlag
	S    string
	Mode dvMode
	Lv   dvLevel
	P    *int
	PF   *float64
	PM   *dvMode
	Any  any
	Str  fmt.Stringer
	Sl   []byte
	Ss   []string
	Fs   []float64
	Mp   map[string]int
	T    time.Time
	Pt   dvPoint
}

func TestDropIfEqualConvertsValues(t *testing.T) {
	five := 5
	six := 6
	zero := 0.0
	fast := dvMode("fast")
	tests := []struct {
		arg   string
		value any
		drop  []any // argument values that must be dropped
		keep  []any // argument values that must stay in the key
	}{
		{"F", 0, []any{0.0}, []any{math.Copysign(0, -1), 1.0, math.SmallestNonzeroFloat64}}, // -0 keys apart from 0
		{"F", int64(3), []any{3.0}, []any{3.5}},
		{"F", uint64(1 << 63), []any{float64(1 << 63)}, []any{0.0}},
		{"F", float32(0.5), []any{0.5}, []any{0.25}},
		{"F32", 1.5, []any{float32(1.5)}, []any{float32(1)}},
		{"F32", 0, []any{float32(0)}, []any{float32(1)}},
		{"F32", 1 << 25, []any{float32(1 << 25)}, []any{float32(1<<25 + 4)}},
		{"F32", math.NaN(), []any{float32(math.NaN())}, []any{float32(0)}},
		{"F32", math.Inf(-1), []any{float32(math.Inf(-1))}, []any{float32(math.Inf(1))}},
		{"I", 0.0, []any{0}, []any{1}},
		{"I", 2.0, []any{2}, []any{3}},
		{"I", math.Copysign(0, -1), []any{0}, []any{-1}},
		{"I", uint8(7), []any{7}, []any{8}},
		{"I", dvLevel(4), []any{4}, []any{5}},
		{"I8", -128, []any{int8(-128)}, []any{int8(127)}},
		{"I8", int64(127), []any{int8(127)}, []any{int8(0)}},
		{"I64", float64(-1 << 63), []any{int64(math.MinInt64)}, []any{int64(0)}},
		{"U", 3, []any{uint(3)}, []any{uint(4)}},
		{"U8", 255.0, []any{uint8(255)}, []any{uint8(0)}},
		{"U64", uint64(math.MaxUint64), []any{uint64(math.MaxUint64)}, []any{uint64(0)}},
		{"U64", 1e19, []any{uint64(1e19)}, []any{uint64(0)}},
		{"B", true, []any{true}, []any{false}},
		{"Flag", true, []any{dvFlag(true)}, []any{dvFlag(false)}},
		{"Flag", dvFlag(false), []any{dvFlag(false)}, []any{dvFlag(true)}},
		{"Mode", "fast", []any{dvMode("fast")}, []any{dvMode("slow"), dvMode("")}},
		{"S", dvMode("x"), []any{"x"}, []any{"y"}},
		{"Lv", 3, []any{dvLevel(3)}, []any{dvLevel(0)}},
		{"Lv", 3.0, []any{dvLevel(3)}, []any{dvLevel(0)}},
		{"P", nil, []any{(*int)(nil)}, []any{&five}},
		{"P", 5, []any{&five}, []any{&six, (*int)(nil)}},
		{"P", 5.0, []any{&five}, []any{&six}},
		{"P", &five, []any{&five}, []any{&six}}, // same type: as it always was
		{"PF", 0, []any{&zero}, []any{(*float64)(nil)}},
		{"PM", "fast", []any{&fast}, []any{(*dvMode)(nil)}},
		{"Any", nil, []any{nil}, []any{0, ""}},
		{"Any", 0, []any{0}, []any{int64(0), uint8(0), 0.0, nil}}, // used as it is: the int 0 is not the float 0 or an int64 0
		{"Any", 0.0, []any{0.0}, []any{0, float32(0)}},
		{"Any", int64(0), []any{int64(0)}, []any{0, uint8(0)}},
		{"Str", nil, []any{nil}, []any{time.Second}},
		{"Str", time.Second, []any{time.Second}, []any{time.Minute}},
		{"Sl", nil, []any{[]byte(nil)}, []any{[]byte{}, []byte{0}}}, // nil is not empty
		{"Sl", []byte{}, []any{[]byte{}}, []any{[]byte(nil), []byte{0}}},
		{"Ss", nil, []any{[]string(nil)}, []any{[]string{}, []string{""}}},
		{"Fs", nil, []any{[]float64(nil)}, []any{[]float64{}, []float64{0}}},
		{"Fs", []float64{1}, []any{[]float64{1}}, []any{[]float64{}}},
		{"Mp", nil, []any{map[string]int(nil)}, []any{map[string]int{}, map[string]int{"a": 1}}},
		{"T", time.Unix(0, 0), []any{time.Unix(0, 0).UTC()}, []any{time.Time{}}},
		{"Pt", dvPoint{1, 2}, []any{dvPoint{1, 2}}, []any{dvPoint{}}},
	}
	base := dvArgs{I: 100, S: "s", Mode: "m", F: 9, Mp: map[string]int{"k": 1}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s=%T(%v)", tt.arg, tt.value, tt.value), func(t *testing.T) {
			p, err := Compile(reflect.TypeFor[dvArgs](), []Rule{{Arg: tt.arg, Kind: RuleDropIfEqual, Value: tt.value}})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			ign := compile[dvArgs](t, Rule{Arg: tt.arg, Kind: RuleIgnore})
			set := func(x any) dvArgs {
				v := base
				f := reflect.ValueOf(&v).Elem().FieldByName(tt.arg)
				if x == nil {
					f.SetZero()
				} else {
					f.Set(reflect.ValueOf(x))
				}
				return v
			}
			for _, x := range tt.drop {
				v := set(x)
				if key(t, p, "", v).Hash != key(t, ign, "", v).Hash {
					t.Errorf("%s = %#v was not dropped", tt.arg, x)
				}
			}
			for _, x := range tt.keep {
				v := set(x)
				if key(t, p, "", v).Hash == key(t, ign, "", v).Hash {
					t.Errorf("%s = %#v was dropped", tt.arg, x)
				}
			}
		})
	}
}

func TestDropIfEqualRefusesInexactValues(t *testing.T) {
	tests := []struct {
		arg   string
		value any
		want  []string
	}{
		{"I", 1.5, []string{`DropIfEqual("I", 1.5)`, "float64 1.5 is not exactly representable as the argument's type int"}},
		{"I", math.NaN(), []string{`"I"`, "float64", "type int"}},
		{"I", math.Inf(1), []string{`"I"`, "float64", "type int"}},
		{"I", uint64(math.MaxUint64), []string{"uint64 18446744073709551615", "type int"}},
		{"I8", 200, []string{`DropIfEqual("I8", 200)`, "int 200", "type int8"}},
		{"I8", -129.0, []string{"float64 -129", "type int8"}},
		{"I64", float64(1 << 63), []string{"float64 9.223372036854776e+18", "type int64"}},
		{"U", -1, []string{`DropIfEqual("U", -1)`, "int -1", "type uint"}},
		{"U8", uint16(256), []string{"uint16 256", "type uint8"}},
		{"U8", -0.5, []string{"float64 -0.5", "type uint8"}},
		{"U64", 1.8446744073709552e19, []string{"float64", "type uint64"}},
		{"F", int64(1<<53 + 1), []string{"int64 9007199254740993", "type float64"}},
		{"F", uint64(math.MaxUint64), []string{"uint64 18446744073709551615", "type float64"}},
		{"F32", 0.1, []string{`DropIfEqual("F32", 0.1)`, "float64 0.1", "type float32"}},
		{"F32", 1<<24 + 1, []string{"int 16777217", "type float32"}},
		{"F32", int64(-1<<24 - 1), []string{"int64 -16777217", "type float32"}},
		{"F32", 1e300, []string{"float64 1e+300", "type float32"}},
		{"I", "0", []string{`DropIfEqual("I", "0")`, `string "0" cannot be converted to the argument's type int`}},
		{"S", 0, []string{"int 0 cannot be converted", "type string"}},
		{"Mode", true, []string{"bool true", "keying.dvMode"}},
		{"B", 1, []string{"int 1", "type bool"}},
		{"I", nil, []string{`DropIfEqual("I", nil)`, "nil cannot be converted to the argument's type int"}},
		{"Pt", nil, []string{"nil", "keying.dvPoint"}},
		{"I", []int{0}, []string{"[]int", "type int"}},
		{"Pt", dvOther{1, 2}, []string{"keying.dvOther", "keying.dvPoint"}},
		{"T", 0, []string{"int 0", "time.Time"}},
		{"Sl", "", []string{`string ""`, "[]uint8"}},
		{"Ss", []any{}, []string{"[]interface {}", "[]string"}},
		{"P", 5.5, []string{`DropIfEqual("P", 5.5)`, "float64 5.5", "int, the pointee of the argument's type *int"}},
		{"P", "5", []string{`string "5"`, "*int"}},
		{"P", new(int64), []string{"*int64", "*int"}},
		{"PM", 1, []string{"int 1", "keying.dvMode", "*keying.dvMode"}},
		{"Str", 5, []string{`DropIfEqual("Str", 5)`, "int 5 does not implement the argument's type fmt.Stringer"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s=%T(%v)", tt.arg, tt.value, tt.value), func(t *testing.T) {
			_, err := Compile(reflect.TypeFor[dvArgs](), []Rule{{Arg: tt.arg, Kind: RuleDropIfEqual, Value: tt.value}})
			if !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("Compile = %v, want an ErrInvalidRule", err)
			}
			if !strings.HasPrefix(err.Error(), "keying: keying.dvArgs: DropIfEqual(") {
				t.Errorf("error %q does not start with the type and the rule", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// A value that cannot be keyed at all stays an ErrUnkeyable.
	_, err := Compile(reflect.TypeFor[dvArgs](), []Rule{{Arg: "Any", Kind: RuleDropIfEqual, Value: make(chan int)}})
	if !errors.Is(err, ErrUnkeyable) {
		t.Errorf("unkeyable value: %v", err)
	}
}

// The error of the example in the brief, on a type named T.
func TestDropIfEqualErrorMessage(t *testing.T) {
	type T struct{ Threshold int }
	_, err := Compile(reflect.TypeFor[T](), []Rule{{Arg: "Threshold", Kind: RuleDropIfEqual, Value: 1.5}})
	want := `keying: keying.T: DropIfEqual("Threshold", 1.5): float64 1.5 is not exactly representable as the argument's type int: keying: invalid key rule`
	if err == nil || err.Error() != want {
		t.Errorf("error\n got %v\nwant %s", err, want)
	}
}
