package keying_test

import (
	"fmt"
	"reflect"

	"github.com/pcache/pcache/keying"
)

func ExampleStableHash() {
	// Map insertion order, integer widths and nil-vs-empty do not matter.
	a, _ := keying.StableHash(map[string]any{"n": int32(3), "tags": []string{}})
	b, _ := keying.StableHash(map[string]any{"tags": []string(nil), "n": int64(3)})
	fmt.Println(a == b)
	fmt.Println(a)

	// Values that cannot be keyed are errors naming the path and type.
	_, err := keying.StableHash(map[string]any{"callback": func() {}})
	fmt.Println(err)
	// Output:
	// true
	// 023f2d55f4b6f4af3a58c9ac86ee622167adfd4872be4b0b89bb6f8bfa35c0cf
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
