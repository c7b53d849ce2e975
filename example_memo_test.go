package pcache_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"

	"github.com/pcache/pcache"
)

// tempDefault points the default Store at a temporary directory, so the
// examples leave nothing behind; real programs leave $PCACHE_DIR alone (or
// set it) and get <user cache dir>/pcache.
func tempDefault() func() {
	dir, err := os.MkdirTemp("", "pcache-example-")
	if err != nil {
		log.Fatal(err)
	}
	old, had := os.LookupEnv("PCACHE_DIR")
	os.Setenv("PCACHE_DIR", dir)
	return func() {
		pcache.Close()
		if had {
			os.Setenv("PCACHE_DIR", old)
		} else {
			os.Unsetenv("PCACHE_DIR")
		}
		os.RemoveAll(dir)
	}
}

var slowSquareCalls int

func slowSquare(x int) int {
	slowSquareCalls++ // hours of work
	return x * x
}

// Memo replaces a plain function with a cached one of the same type: the
// one-line form. A package-level
//
//	var square = pcache.Memo("example/square", slowSquare)
//
// works the same way; its first call opens the default Store.
func ExampleMemo() {
	defer tempDefault()()

	square := pcache.Memo("example/square", slowSquare)
	fmt.Println(square(12), square(12), square(3))
	fmt.Println("computed", slowSquareCalls, "times")
	// Output:
	// 144 144 9
	// computed 2 times
}

// MemoErr keeps the function's errors (they are not cached).
func ExampleMemoErr() {
	defer tempDefault()()

	parse := pcache.MemoErr("example/parse", strconv.Atoi)
	n, err := parse("42")
	fmt.Println(n, err)
	_, err = parse("forty-two")
	fmt.Println(errors.Is(err, strconv.ErrSyntax))
	// Output:
	// 42 <nil>
	// true
}

// Memo2 keys a function of two parameters by position, under the names
// Params gives them; key rules such as Ignore refer to those names.
func ExampleMemo2() {
	defer tempDefault()()

	calls := 0
	repeat := pcache.Memo2("example/repeat", func(s string, n int) string {
		calls++
		return strings.Repeat(s, n)
	}, pcache.Params("text", "count"))
	fmt.Println(repeat("ab", 3), repeat("ab", 3), repeat("ab", 2))
	fmt.Println("computed", calls, "times")
	// Output:
	// ababab ababab abab
	// computed 2 times
}

// Memo3 is the three-parameter form. Here the third parameter only changes
// how much the function logs, so it is left out of the key.
func ExampleMemo3() {
	defer tempDefault()()

	calls := 0
	clamp := pcache.Memo3("example/clamp", func(x, limit int, verbose bool) int {
		calls++
		return min(x, limit)
	}, pcache.Params("x", "limit", "verbose"), pcache.Ignore("verbose"))
	fmt.Println(clamp(7, 5, false), clamp(7, 5, true))
	fmt.Println("computed", calls, "time")
	// Output:
	// 5 5
	// computed 1 time
}

// A method value or closure is keyed by its arguments only: state it reads
// from its receiver or captured variables is invisible to the key. Pass that
// state as a parameter (here the model's version), or put it in the name.
func ExampleMemo2_methodValues() {
	defer tempDefault()()

	type model struct{ version string }
	score := func(m *model, input string) float64 { return float64(len(input)) }
	m := &model{version: "v2"}

	// Keyed by the model's version and the input, not by the pointer.
	cached := pcache.Memo2("example/score", func(version, input string) float64 {
		return score(m, input)
	}, pcache.Params("model_version", "input"))
	fmt.Println(cached(m.version, "hello"))
	// Output: 5
}

// Default is the Store the memoizers share; Wrap can use it too.
func ExampleDefault() {
	defer tempDefault()()

	store, err := pcache.Default()
	if err != nil {
		log.Fatal(err)
	}
	defer pcache.Close() // optional: flushes the remote tier's queue, releases locks
	double := pcache.MustWrap(store, "example/double", func(_ context.Context, x int) (int, error) { return 2 * x, nil })
	v, _ := double.Call(context.Background(), 21)
	fmt.Println(v)
	// Output: 42
}

// Explain says why a call would miss: here the stored call nearest to it
// differs in one argument.
func ExampleFunc_Explain() {
	store, done := exampleStore()
	defer done()
	type Args struct {
		Dataset string
		Epochs  int
	}
	train := pcache.MustWrap(store, "example/train", func(_ context.Context, a Args) (float64, error) {
		return 0.9, nil
	})
	ctx := context.Background()
	train.Call(ctx, Args{Dataset: "cifar", Epochs: 10})

	x, _ := train.Explain(ctx, Args{Dataset: "cifar", Epochs: 12})
	fmt.Println(x.Hit, x.Nearest[0].Differences[0])
	// Output: false Epochs: 12 (stored: 10)
}

// Forget drops one call's entry: the next such call computes again.
func ExampleFunc_Forget() {
	store, done := exampleStore()
	defer done()
	calls := 0
	f := pcache.MustWrap(store, "example/forget", func(_ context.Context, x int) (int, error) { calls++; return x, nil })
	ctx := context.Background()
	f.Call(ctx, 1)
	f.Forget(ctx, 1)
	f.Call(ctx, 1)
	fmt.Println("computed", calls, "times")
	// Output: computed 2 times
}

// Under ModeVerify every hit is recomputed and compared: a function whose
// result changed under its stored entries is caught.
func ExampleWithMode_verify() {
	store, done := exampleStore()
	defer done()
	offset := 0
	f := pcache.MustWrap(store, "example/verify", func(_ context.Context, x int) (int, error) { return x + offset, nil })
	ctx := context.Background()
	f.Call(ctx, 1)
	offset = 1 // the code changed, the name and Version did not
	_, err := f.Call(pcache.WithMode(ctx, pcache.ModeVerify), 1)
	fmt.Println(errors.Is(err, pcache.ErrVerifyMismatch))
	// Output: true
}

// OnCall reports, per call, whether it hit and where the result came from.
func ExampleOnCall() {
	store, done := exampleStore()
	defer done()
	f := pcache.MustWrap(store, "example/oncall", func(_ context.Context, x int) (int, error) { return x, nil })
	ctx := pcache.OnCall(context.Background(), func(i pcache.CallInfo) {
		fmt.Println(i.Function, i.Hit, i.Source)
	})
	f.Call(ctx, 1)
	f.Call(ctx, 1)
	// Output:
	// example/oncall false computed
	// example/oncall true local
}

// A shared remote makes every machine's cache serve what any of them
// computed. Real programs set PCACHE_REMOTE=s3://bucket/prefix (and the
// standard AWS variables, with import _ "github.com/pcache/pcache/remote/s3")
// or pass Remote; here a shared directory stands in.
func ExampleRemote() {
	shared, _ := os.MkdirTemp("", "pcache-remote-")
	defer os.RemoveAll(shared)
	dirA, _ := os.MkdirTemp("", "pcache-a-")
	defer os.RemoveAll(dirA)
	dirB, _ := os.MkdirTemp("", "pcache-b-")
	defer os.RemoveAll(dirB)
	ctx := context.Background()
	calls := 0
	fn := func(_ context.Context, x int) (int, error) { calls++; return x * 10, nil }

	a, _ := pcache.Open(dirA, pcache.Remote("file://"+shared)) // machine A
	pcache.MustWrap(a, "example/remote", fn).Call(ctx, 4)
	a.Close() // publishes what is queued

	b, _ := pcache.Open(dirB, pcache.Remote("file://"+shared)) // machine B: a cache of its own
	defer b.Close()
	v, _ := pcache.MustWrap(b, "example/remote", fn).Call(ctx, 4)
	fmt.Println(v, "computed", calls, "time")
	// Output: 40 computed 1 time
}
