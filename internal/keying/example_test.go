package keying_test

import (
	"fmt"
	"reflect"

	"github.com/pcache/pcache/internal/keying"
)

func ExampleStableHash() {
	// Map insertion order and integer widths do not matter.
	a, _ := keying.StableHash(map[string]int32{"n": 3, "m": 4})
	b, _ := keying.StableHash(map[string]int64{"m": 4, "n": 3})
	fmt.Println(a == b)
	fmt.Println(a)

	// What the function can tell apart does: the dynamic type behind an
	// interface, nil and empty, -0 and +0, a time's zone.
	c, _ := keying.StableHash([]any{int32(3), []string(nil)})
	d, _ := keying.StableHash([]any{int64(3), []string{}})
	fmt.Println(c == d)

	// Values that cannot be keyed are errors naming the path and type.
	_, err := keying.StableHash(map[string]any{"callback": func() {}})
	fmt.Println(err)
	// Output:
	// true
	// 7de6e40765b7420edc3f72d518536f9fa7d56c0d603db27fa1b5c3743d63103b
	// false
	// keying: value["callback"] (func()): funcs cannot be keyed
}

// The argument struct of a function, before and after it gained a Limit
// field and a Verbose flag.
type SearchV1 struct {
	Query string
}

type SearchV2 struct {
	Query   string
	Limit   int  `pcache:",omitzero"` // Limit 0 keys like SearchV1: old entries still hit
	Verbose bool // ignored by the rule below
}

func ExampleCompile() {
	v1, _ := keying.Compile(reflect.TypeFor[SearchV1](), nil)
	v2, err := keying.Compile(reflect.TypeFor[SearchV2](), []keying.Rule{
		{Arg: "Verbose", Kind: keying.RuleIgnore},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	old, _ := v1.Key("1", SearchV1{Query: "cats"})
	same, _ := v2.Key("1", SearchV2{Query: "cats", Verbose: true})
	other, _ := v2.Key("1", SearchV2{Query: "cats", Limit: 10})

	fmt.Println(old.Hash == same.Hash)
	fmt.Println(old.Hash == other.Hash)
	d, _ := keying.Diagnose(other.Bytes)
	fmt.Println(d)

	// A rule that names no argument is an error.
	_, err = keying.Compile(reflect.TypeFor[SearchV2](), []keying.Rule{{Arg: "Verbos", Kind: keying.RuleIgnore}})
	fmt.Println(err)
	// Output:
	// true
	// false
	// [1, "1", {"Limit": 10, "Query": "cats"}]
	// keying: keying_test.SearchV2: rule Ignore("Verbos"): no argument named "Verbos" (arguments: Query, Limit, Verbose): keying: invalid key rule
}

// Result types of one cached function in three builds.
type MetricsV1 struct{ Acc float64 }

type MetricsV2 struct{ Accuracy, F1 float64 }

type Score struct{ Acc float64 } // MetricsV1 renamed

func ExampleResultFingerprint() {
	v1 := keying.ResultFingerprint(reflect.TypeFor[MetricsV1]())
	v2 := keying.ResultFingerprint(reflect.TypeFor[MetricsV2]())
	renamed := keying.ResultFingerprint(reflect.TypeFor[Score]())
	fmt.Println(v1 == v2)      // fields changed: entries of v1 are misses for v2
	fmt.Println(v1 == renamed) // only the type's name changed: entries still hit
	d, _ := keying.Diagnose(keying.ResultShape(reflect.TypeFor[MetricsV2]()))
	fmt.Println(d)
	// Output:
	// false
	// true
	// ["pcache-result-shape", 1, ["struct", [["Accuracy", "", "", 0, "float64"], ["F1", "", "", 0, "float64"]]]]
}
