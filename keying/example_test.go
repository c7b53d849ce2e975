package keying_test

import (
	"errors"
	"fmt"

	"github.com/pcache/pcache/keying"
)

type point struct {
	X, Y int
	Tags map[string]bool
}

func Example() {
	// Map insertion order and integer widths do not matter.
	a, _ := keying.StableHash(map[string]int32{"n": 3, "m": 4})
	b, _ := keying.StableHash(map[string]int64{"m": 4, "n": 3})
	fmt.Println(a == b)
	fmt.Println(a)

	// What a function can tell apart does: nil and empty, say.
	c, _ := keying.StableHash([]string(nil))
	d, _ := keying.StableHash([]string{})
	fmt.Println(c == d)

	key, _ := keying.Encode(point{X: 1, Y: 2, Tags: map[string]bool{"b": true, "a": false}})
	s, _ := keying.Render(key)
	fmt.Println(s)

	// Values that cannot be keyed are errors naming the path and type.
	_, err := keying.Encode(map[string]any{"callback": func() {}})
	fmt.Println(errors.Is(err, keying.ErrUnkeyable), err)
	// Output:
	// true
	// 7de6e40765b7420edc3f72d518536f9fa7d56c0d603db27fa1b5c3743d63103b
	// false
	// {"X": 1, "Y": 2, "Tags": {"a": false, "b": true}}
	// true keying: value["callback"] (func()): funcs cannot be keyed
}
