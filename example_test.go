package pcache_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/pcache/pcache"
)

// exampleStore opens a cache in a fresh temporary directory. Real programs
// call pcache.Open("") for the default directory.
func exampleStore() (*pcache.Store, func()) {
	dir, err := os.MkdirTemp("", "pcache-example-")
	if err != nil {
		log.Fatal(err)
	}
	s, err := pcache.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }
}

func ExampleWrap() {
	store, done := exampleStore()
	defer done()

	type Args struct {
		X, Y, Z int
	}
	calls := 0
	f, err := pcache.Wrap(store, "example/sum", func(ctx context.Context, a Args) (int, error) {
		calls++
		return a.X + a.Y + a.Z, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	a, _ := f.Call(ctx, Args{X: 2, Y: 2, Z: 3})
	b, _ := f.Call(ctx, Args{2, 2, 3}) // the same logical call: served from the cache
	fmt.Println(a, b, "computed", calls, "time")
	// Output: 7 7 computed 1 time
}

// A field added later with DropIfEqual (or the `pcache:",omitzero"` tag)
// keeps every entry stored before it existed: calls with the default value
// hit them. This is how a cached function's signature evolves.
func ExampleDropIfEqual() {
	store, done := exampleStore()
	defer done()
	ctx := context.Background()

	type ArgsV1 struct{ Epochs int }
	train := pcache.MustWrap(store, "example/train", func(ctx context.Context, a ArgsV1) (string, error) {
		return fmt.Sprintf("model trained for %d epochs", a.Epochs), nil
	})
	train.Call(ctx, ArgsV1{Epochs: 10})

	// Later the function gains a learning-rate-schedule argument, default 0.
	type ArgsV2 struct {
		Epochs   int
		Schedule int
	}
	computed := false
	trainV2 := pcache.MustWrap(store, "example/train", func(ctx context.Context, a ArgsV2) (string, error) {
		computed = true
		return fmt.Sprintf("model trained for %d epochs, schedule %d", a.Epochs, a.Schedule), nil
	}, pcache.DropIfEqual("Schedule", 0))

	m, _ := trainV2.Call(ctx, ArgsV2{Epochs: 10})
	fmt.Println(m, "| recomputed:", computed)
	// Output: model trained for 10 epochs | recomputed: false
}

// Ignore leaves an argument out of the key: calls that differ only in it
// share an entry.
func ExampleIgnore() {
	store, done := exampleStore()
	defer done()
	type Args struct {
		N       int
		Verbose bool
	}
	calls := 0
	f := pcache.MustWrap(store, "example/ignore", func(ctx context.Context, a Args) (int, error) {
		calls++
		return a.N * a.N, nil
	}, pcache.Ignore("Verbose"))
	f.Call(context.Background(), Args{N: 3})
	f.Call(context.Background(), Args{N: 3, Verbose: true})
	fmt.Println("computed", calls, "time")
	// Output: computed 1 time
}

func ExampleWrapBatch() {
	store, done := exampleStore()
	defer done()
	embed := pcache.MustWrapBatch(store, "example/embed", func(ctx context.Context, words []string) ([]int, error) {
		fmt.Println("computing", words)
		out := make([]int, len(words))
		for i, w := range words {
			out[i] = len(w)
		}
		return out, nil
	})
	ctx := context.Background()
	embed.Call(ctx, []string{"a", "bb", "ccc"})
	lens, _ := embed.Call(ctx, []string{"bb", "dddd", "a", "dddd"})
	fmt.Println(lens)
	// Output:
	// computing [a bb ccc]
	// computing [dddd]
	// [2 4 1 4]
}

// Out files: the contents a function writes are cached with its result and
// restored to whatever path a later call asks for.
func ExampleOutFile() {
	store, done := exampleStore()
	defer done()
	dir, _ := os.MkdirTemp("", "pcache-example-out-")
	defer os.RemoveAll(dir)

	type Args struct {
		Text string
		Out  string // a path the function writes
	}
	render := pcache.MustWrap(store, "example/render", func(ctx context.Context, a Args) (int, error) {
		fmt.Println("rendering to", filepath.Base(a.Out))
		s := strings.ToUpper(a.Text)
		return len(s), os.WriteFile(a.Out, []byte(s), 0o644)
	}, pcache.OutFile("Out"))

	ctx := context.Background()
	render.Call(ctx, Args{Text: "hello", Out: filepath.Join(dir, "first.txt")})
	os.Remove(filepath.Join(dir, "first.txt"))
	render.Call(ctx, Args{Text: "hello", Out: filepath.Join(dir, "second.txt")}) // restored, not recomputed
	b, _ := os.ReadFile(filepath.Join(dir, "second.txt"))
	fmt.Println(string(b))
	// Output:
	// rendering to first.txt
	// HELLO
}

func ExampleErrorOnMiss() {
	store, done := exampleStore()
	defer done()
	f := pcache.MustWrap(store, "example/strict", func(ctx context.Context, x int) (int, error) { return x * 2, nil })
	ctx := context.Background()
	_, err := f.Call(pcache.ErrorOnMiss(ctx), 21)
	fmt.Println(errors.Is(err, pcache.ErrCacheMiss))
	f.Call(ctx, 21)
	v, err := f.Call(pcache.ErrorOnMiss(ctx), 21)
	fmt.Println(v, err)
	// Output:
	// true
	// 42 <nil>
}

func ExampleStableHash() {
	h, err := pcache.StableHash(map[string]any{"lr": 0.01, "layers": []int{64, 64}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(h), "hex digits, the same on every machine")
	// Output: 64 hex digits, the same on every machine
}

// Check verifies a cache from Go, as pcache-fsck check does.
func ExampleStore_Check() {
	store, done := exampleStore()
	defer done()
	square := pcache.MustWrap(store, "example/square", func(_ context.Context, x int) (int, error) { return x * x, nil })
	square.Call(context.Background(), 12)

	rep, err := store.Check(context.Background(), pcache.CheckOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("clean:", rep.Clean, "entries:", rep.Entries, "errors:", rep.Errors)
	// Output: clean: true entries: 1 errors: 0
}

// GC removes what no entry uses and, with a size or age limit, evicts the
// least recently used entries; it is safe beside running writers.
func ExampleStore_GC() {
	store, done := exampleStore()
	defer done()
	ctx := context.Background()
	blob := pcache.MustWrap(store, "example/blob", func(_ context.Context, n int) ([]byte, error) {
		return bytes.Repeat([]byte{byte(n)}, 1000), nil
	})
	for n := 0; n < 5; n++ {
		blob.Call(ctx, n)
	}
	rep, err := store.GC(ctx, pcache.GCOptions{MaxSize: 2500})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("evicted:", rep.EntriesEvicted, "kept:", rep.EntriesKept)
	// Output: evicted: 3 kept: 2
}

// A result too large for memory is a Blob: the function writes it as a
// stream, the cache keeps it as one object, and callers read it (in part,
// with io.ReaderAt) without ever loading it whole.
func ExampleWriteBlob() {
	store, done := exampleStore()
	defer done()

	type Export struct{ Table string }
	calls := 0
	export := pcache.MustWrap(store, "example/export", func(ctx context.Context, a Export) (pcache.Blob, error) {
		calls++
		return pcache.WriteBlob(ctx, func(w io.Writer) error {
			// Each Write of w is a write to the file: buffer small ones.
			bw := bufio.NewWriter(w)
			for i := range 100000 { // gigabytes, in a real export
				if _, err := fmt.Fprintf(bw, "%s,row %06d\n", a.Table, i); err != nil {
					return err
				}
			}
			return bw.Flush()
		})
	})
	ctx := context.Background()
	export.Call(ctx, Export{"users"})
	blob, err := export.Call(ctx, Export{"users"}) // served from the cache
	if err != nil {
		log.Fatal(err)
	}
	r, err := blob.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	line := make([]byte, 17)
	r.(io.ReaderAt).ReadAt(line, 17*99999) // the last row, read on its own
	fmt.Printf("%d bytes, computed %d time, last row %q\n", blob.Size(), calls, line[:16])
	// Output: 1700000 bytes, computed 1 time, last row "users,row 099999"
}
