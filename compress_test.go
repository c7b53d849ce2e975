package pcache_test

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pcache/pcache"
)

// compressedObjects counts the compressed loose objects of a cache.
func compressedObjects(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".zst") {
			n++
		}
		return nil
	})
	return n
}

type textRow struct {
	ID    int
	Name  string
	Score float64
	Tags  []string
}

// TestCompressResults wraps functions of several result kinds with
// Compress and requires a miss and then a hit (in a new Store, so from
// disk) to return exactly what the function returned, with the results
// that pay stored compressed: text, records, a 2 MiB []float64 (read
// straight into the new slice by the direct path) and a batch; random
// bytes and a small result stay raw.
func TestCompressResults(t *testing.T) {
	floats := make([]float64, 1<<18)
	for i := range floats {
		floats[i] = float64(i%1000) / 8
	}
	floats[7] = math.Copysign(0, -1)
	// At the best level, -short compresses 1 MiB and 8 bytes of them:
	// still more than engine.DirectFrom, the size from which a hit is
	// read by the direct path.
	floats19 := floats
	if testing.Short() {
		floats19 = floats[:1<<17+1]
	}
	random := make([]byte, 300<<10)
	x := uint64(12345)
	for i := range random {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		random[i] = byte(x)
	}
	rows := make([]textRow, 4000)
	for i := range rows {
		rows[i] = textRow{ID: i, Name: fmt.Sprintf("row-%d", i%50), Score: float64(i%97) / 4, Tags: []string{"a", "b"}}
	}
	type check struct {
		name       string
		wrap       func(s *pcache.Store, computed *int) func(context.Context) (any, error)
		want       any
		compressed int // compressed objects it leaves
	}
	wrap := func(name string, v any, opts ...pcache.Option) func(s *pcache.Store, computed *int) func(context.Context) (any, error) {
		return func(s *pcache.Store, computed *int) func(context.Context) (any, error) {
			switch v := v.(type) {
			case string:
				f := pcache.MustWrap(s, name, func(context.Context, int) (string, error) { *computed++; return v, nil }, opts...)
				return func(ctx context.Context) (any, error) { return f.Call(ctx, 1) }
			case []byte:
				f := pcache.MustWrap(s, name, func(context.Context, int) ([]byte, error) { *computed++; return v, nil }, opts...)
				return func(ctx context.Context) (any, error) { return f.Call(ctx, 1) }
			case []float64:
				f := pcache.MustWrap(s, name, func(context.Context, int) ([]float64, error) { *computed++; return v, nil }, opts...)
				return func(ctx context.Context) (any, error) { return f.Call(ctx, 1) }
			case []textRow:
				f := pcache.MustWrap(s, name, func(context.Context, int) ([]textRow, error) { *computed++; return v, nil }, opts...)
				return func(ctx context.Context) (any, error) { return f.Call(ctx, 1) }
			}
			panic("unknown kind")
		}
	}
	text := strings.Repeat("the quick brown fox jumps over the lazy dog; ", 5000)
	checks := []check{
		{"text", wrap("z/text", text, pcache.Compress(0)), text, 1},
		{"records", wrap("z/records", rows, pcache.Compress(3)), rows, 1},
		{"floats, direct read", wrap("z/floats", floats, pcache.Compress(1)), floats, 1},
		{"floats, best level", wrap("z/floats19", floats19, pcache.Compress(19)), floats19, 1},
		{"random bytes: raw", wrap("z/random", random, pcache.Compress(0)), random, 0},
		{"small: packed", wrap("z/small", "short text", pcache.Compress(0)), "short text", 0},
		{"text without Compress: raw", wrap("z/plain", text), text, 0},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			computed := 0
			s := openStore(t, dir)
			got, err := c.wrap(s, &computed)(context.Background())
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("miss: %v", err)
			}
			s.Close()
			if n := compressedObjects(t, dir); n != c.compressed {
				t.Fatalf("%d compressed objects, want %d", n, c.compressed)
			}
			s = openStore(t, dir)
			got, err = c.wrap(s, &computed)(pcache.ErrorOnMiss(context.Background()))
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("hit: %v", err)
			}
			if fs, ok := c.want.([]float64); ok && math.Signbit(fs[7]) != math.Signbit(got.([]float64)[7]) {
				t.Fatal("-0 lost its sign")
			}
			if computed != 1 {
				t.Fatalf("%d computations, want 1", computed)
			}
		})
	}
}

// TestCompressBatchAndMemo: batches and memoizers take Compress like any
// option.
func TestCompressBatchAndMemo(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	long := func(x int) string { return strings.Repeat(fmt.Sprintf("line %d of a long text result\n", x), 4000) }
	b := pcache.MustWrapBatch(s, "z/batch", func(_ context.Context, xs []int) ([]string, error) {
		out := make([]string, len(xs))
		for i, x := range xs {
			out[i] = long(x)
		}
		return out, nil
	}, pcache.Compress(0))
	got, err := b.Call(context.Background(), []int{1, 2, 3})
	if err != nil || got[2] != long(3) {
		t.Fatal(err)
	}
	if n := compressedObjects(t, dir); n != 3 {
		t.Fatalf("%d compressed objects after a batch of 3, want 3", n)
	}
	t.Setenv("PCACHE_DIR", t.TempDir())
	m := pcache.Memo("z/memo", long, pcache.Compress(0))
	if m(4) != long(4) || m(4) != long(4) {
		t.Fatal("memo: wrong value")
	}
}

// TestCompressLevels: levels 0 to 22 are zstd's; anything else, or the
// option twice, is refused by Wrap, naming it.
func TestCompressLevels(t *testing.T) {
	s := openStore(t, t.TempDir())
	fn := func(context.Context, int) (string, error) { return "", nil }
	for _, c := range []struct {
		opts []pcache.Option
		err  string
	}{
		{[]pcache.Option{pcache.Compress(0)}, ""},
		{[]pcache.Option{pcache.Compress(22)}, ""},
		{[]pcache.Option{pcache.Compress(23)}, "Compress(23)"},
		{[]pcache.Option{pcache.Compress(-1)}, "Compress(-1)"},
		{[]pcache.Option{pcache.Compress(1), pcache.Compress(2)}, "Compress given twice"},
	} {
		_, err := pcache.Wrap(s, fmt.Sprintf("z/levels%d", len(c.err)), fn, c.opts...)
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v", c.err, err)
		}
	}
}
