package torture_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/fixture"
	"github.com/pcache/pcache/internal/testutil"
)

// TestFrozenCaches opens a copy of every frozen cache under testdata/ (each
// written by an earlier release, see internal/cmd/mkfixture) and requires
// every stored entry to be served without computing, with the value the
// release that wrote it computed; the entry dropped with pcache-fsck rm
// must miss.
func TestFrozenCaches(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"cache-v1", "cache-v2", "cache-v3"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			if err := testutil.CopyTree(filepath.Join("..", "..", "testdata", name), dir, "locks", "tmp"); err != nil {
				t.Fatal(err)
			}
			checkFrozen(t, dir)
			if name >= "cache-v3" {
				checkFrozenText(t, dir, true)
			}
		})
	}
}

// checkFrozenText requires fixture/text's entries (compressed objects,
// from cache-v3 on) to be served without computing when intact, and the
// right value whatever happened to them.
func checkFrozenText(t *testing.T, dir string, intact bool) {
	t.Helper()
	s := openStore(t, dir, pcache.WithLogger(quietLogger()))
	computed := 0
	text := pcache.MustWrap(s, fixture.Text, func(_ context.Context, x int) (string, error) {
		computed++
		return fixture.TextOf(x), nil
	}, pcache.Compress(0))
	for x := 0; x < fixture.TextN; x++ {
		if got, err := text.Call(context.Background(), x); err != nil || got != fixture.TextOf(x) {
			t.Fatalf("text(%d): %d bytes, %v", x, len(got), err)
		}
	}
	if intact && computed > 0 {
		t.Errorf("%d compressed entries were recomputed", computed)
	}
}

// checkFrozen requires every entry of the frozen cache at dir (written by
// an earlier release, see internal/cmd/mkfixture) to be served without
// computing, with the value that release computed, except the tombstoned
// square, which is computed once; then that a result type changed under
// the same name misses.
func checkFrozen(t *testing.T, dir string) {
	s, err := pcache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	computed := 0
	never := func(what string) { computed++; t.Errorf("%s was computed; the frozen cache holds it", what) }

	square := checkFrozenSquare(t, s, never)
	checkFrozenRecords(t, s, never)
	checkFrozenOutFiles(t, s, never)
	checkFrozenBatch(t, s, never)
	checkFrozenMany(t, s, never)
	if computed > 0 {
		t.Errorf("%d stored entries were recomputed", computed)
	}
	checkFrozenResultType(t, s, square)
}

// checkFrozenSquare requires every square to be served with the right
// value, the tombstoned one after one computation (never is called for any
// other), and returns the function.
func checkFrozenSquare(t *testing.T, s *pcache.Store, never func(string)) *pcache.Func[fixture.SquareArgs, int] {
	square := pcache.MustWrap(s, fixture.Square, func(_ context.Context, a fixture.SquareArgs) (int, error) {
		if a.X != fixture.Tombstoned {
			never(fmt.Sprintf("square(%d)", a.X))
		}
		return fixture.SquareOf(a), nil
	})
	for x := 0; x < fixture.SquareN; x++ {
		got, err := square.Call(context.Background(), fixture.SquareArgs{X: x})
		if err != nil || got != x*x {
			t.Errorf("square(%d) = %d, %v; want %d", x, got, err, x*x)
		}
	}
	if st := square.Stats(); st.Computes != 1 {
		t.Errorf("square: %d computations, want 1 (the tombstoned entry)", st.Computes)
	}
	return square
}

// checkFrozenRecords requires the stored structs (called with an ignored
// argument varied) and byte slices to be served with the right values;
// never is called for any computed.
func checkFrozenRecords(t *testing.T, s *pcache.Store, never func(string)) {
	ctx := context.Background()
	record := pcache.MustWrap(s, fixture.Record, func(_ context.Context, a fixture.RecordArgs) (fixture.Result, error) {
		never("record " + a.Name)
		return fixture.RecordOf(a), nil
	}, pcache.Version(fixture.Version))
	for i := 0; i < fixture.RecordN; i++ {
		a := fixture.RecordArgsOf(i)
		a.Verbose = i%2 == 0 // ignored argument
		got, err := record.Call(ctx, a)
		if want := fixture.RecordOf(a); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("record(%d) = %+v, %v; want %+v", i, got, err, want)
		}
	}

	bytesFn := pcache.MustWrap(s, fixture.Bytes, func(_ context.Context, a string) ([]byte, error) {
		never("bytes " + a)
		return fixture.BytesOf(a), nil
	})
	for i := 0; i < fixture.BytesN; i++ {
		got, err := bytesFn.Call(ctx, fixture.BytesArg(i))
		if want := fixture.BytesOf(fixture.BytesArg(i)); err != nil || string(got) != string(want) {
			t.Errorf("bytes(%d) = %q, %v; want %q", i, got, err, want)
		}
	}
}

// checkFrozenOutFiles requires the stored out-file calls to return their
// results and restore their out files' contents; never is called for any
// computed.
func checkFrozenOutFiles(t *testing.T, s *pcache.Store, never func(string)) {
	outDir := t.TempDir()
	out := pcache.MustWrap(s, fixture.Out, func(_ context.Context, a fixture.OutArgs) (string, error) {
		never(fmt.Sprintf("outfile(%d)", a.Seed))
		return "", nil
	})
	for i := 0; i < fixture.OutN; i++ {
		p := filepath.Join(outDir, fmt.Sprintf("restored-%d.txt", i))
		got, err := out.Call(context.Background(), fixture.OutArgs{Seed: i, Path: p})
		if err != nil || got != fixture.OutResult(i) {
			t.Errorf("outfile(%d) = %q, %v; want %q", i, got, err, fixture.OutResult(i))
			continue
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != fixture.OutContent(i) {
			t.Errorf("outfile(%d) restored %q, %v; want %q", i, b, err, fixture.OutContent(i))
		}
	}
}

// checkFrozenBatch requires one batch call of every stored element, in
// reverse order, to return each element's value; never is called if the
// batch function computes.
func checkFrozenBatch(t *testing.T, s *pcache.Store, never func(string)) {
	batch := pcache.MustWrapBatch(s, fixture.Batch, func(_ context.Context, xs []int) ([]string, error) {
		never(fmt.Sprintf("batch%v", xs))
		return make([]string, len(xs)), nil
	})
	xs := make([]int, fixture.BatchN)
	for i := range xs {
		xs[i] = fixture.BatchN - 1 - i
	}
	got, err := batch.Call(context.Background(), xs)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range xs {
		if got[i] != fixture.BatchOf(x) {
			t.Errorf("batch element %d = %q, want %q", x, got[i], fixture.BatchOf(x))
		}
	}
}

// checkFrozenMany requires the many small entries and the stored maps to
// be served with the right values; never is called for any computed.
func checkFrozenMany(t *testing.T, s *pcache.Store, never func(string)) {
	ctx := context.Background()
	many := pcache.MustWrap(s, fixture.Many, func(_ context.Context, x int) (int, error) {
		never(fmt.Sprintf("many(%d)", x))
		return fixture.ManyOf(x), nil
	})
	for x := 0; x < fixture.ManyN; x++ {
		if got, err := many.Call(ctx, x); err != nil || got != fixture.ManyOf(x) {
			t.Errorf("many(%d) = %d, %v; want %d", x, got, err, fixture.ManyOf(x))
		}
	}

	mapFn := pcache.MustWrap(s, fixture.Map, func(_ context.Context, a string) (map[string]int, error) {
		never("map " + a)
		return fixture.MapOf(a), nil
	})
	for i := 0; i < fixture.MapN; i++ {
		got, err := mapFn.Call(ctx, fixture.MapArg(i))
		if want := fixture.MapOf(fixture.MapArg(i)); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("map(%d) = %v, %v; want %v", i, got, err, want)
		}
	}
}

// checkFrozenResultType requires the same name as square under another
// result type to miss, never a decode of the stored ints as floats; and
// the int entries to keep serving.
func checkFrozenResultType(t *testing.T, s *pcache.Store, square *pcache.Func[fixture.SquareArgs, int]) {
	ctx := context.Background()
	asFloat := 0
	f := pcache.MustWrap(s, fixture.Square, func(_ context.Context, a fixture.SquareArgs) (float64, error) {
		asFloat++
		return float64(a.X*a.X) + 0.5, nil
	})
	if got, err := f.Call(ctx, fixture.SquareArgs{X: 3}); err != nil || got != 9.5 || asFloat != 1 {
		t.Errorf("square as float64 = %v, %v after %d computations; want 9.5 computed", got, err, asFloat)
	}
	if got, err := square.Call(ctx, fixture.SquareArgs{X: 3}); err != nil || got != 9 {
		t.Errorf("square as int after the float64 one = %v, %v", got, err)
	}
}

// TestFrozenCacheDamaged damages copies of the frozen cache of this
// release in the ways disks and copies do (a flipped bit in the pack, a
// journal cut mid-record, a garbled segment, a lost pack index, a flipped
// bit in a compressed object, one cut short) and
// requires every call to return the value the function computes: served
// when the damage spared its entry, computed again when not, never wrong.
func TestFrozenCacheDamaged(t *testing.T) {
	t.Parallel()
	damage := map[string]func(t *testing.T, dir string){
		"flipped bit in the pack": func(t *testing.T, dir string) {
			for _, p := range glob(t, dir, "objects/pack/*.pcp") {
				flipByte(t, p, 0.5)
			}
		},
		"journals cut mid-record": func(t *testing.T, dir string) {
			for _, p := range glob(t, dir, "manifests/*/*/j-*.pcj") {
				fi, _ := os.Stat(p)
				os.Truncate(p, fi.Size()*2/3)
			}
		},
		"garbled segment": func(t *testing.T, dir string) {
			for _, p := range glob(t, dir, "manifests/*/*/s-*.pcs") {
				flipByte(t, p, 0.3)
			}
		},
		"pack index lost": func(t *testing.T, dir string) {
			for _, p := range glob(t, dir, "objects/pack/*.pci") {
				os.Remove(p)
			}
		},
		"flipped bit in a compressed object": func(t *testing.T, dir string) {
			flipByte(t, glob(t, dir, "objects/*/*.zst")[0], 0.5)
		},
		"compressed object cut short": func(t *testing.T, dir string) {
			p := glob(t, dir, "objects/*/*.zst")[1]
			fi, _ := os.Stat(p)
			os.Chmod(p, 0o644)
			os.Truncate(p, fi.Size()/2)
		},
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			if err := testutil.CopyTree(filepath.Join("..", "..", "testdata", "cache-v3"), dir, "locks", "tmp"); err != nil {
				t.Fatal(err)
			}
			fn(t, dir)
			s := openStore(t, dir, pcache.WithLogger(quietLogger()))
			ctx := context.Background()
			square := pcache.MustWrap(s, fixture.Square, func(_ context.Context, a fixture.SquareArgs) (int, error) { return fixture.SquareOf(a), nil })
			for x := 0; x < fixture.SquareN; x++ {
				if got, err := square.Call(ctx, fixture.SquareArgs{X: x}); err != nil || got != x*x {
					t.Fatalf("square(%d) = %d, %v", x, got, err)
				}
			}
			record := pcache.MustWrap(s, fixture.Record, func(_ context.Context, a fixture.RecordArgs) (fixture.Result, error) {
				return fixture.RecordOf(a), nil
			}, pcache.Version(fixture.Version))
			for i := 0; i < fixture.RecordN; i++ {
				a := fixture.RecordArgsOf(i)
				if got, err := record.Call(ctx, a); err != nil || !reflect.DeepEqual(got, fixture.RecordOf(a)) {
					t.Fatalf("record(%d) = %+v, %v", i, got, err)
				}
			}
			many := pcache.MustWrap(s, fixture.Many, func(_ context.Context, x int) (int, error) { return fixture.ManyOf(x), nil })
			for x := 0; x < fixture.ManyN; x++ {
				if got, err := many.Call(ctx, x); err != nil || got != fixture.ManyOf(x) {
					t.Fatalf("many(%d) = %d, %v", x, got, err)
				}
			}
			t.Logf("%s: square %+v; record %+v; many %+v", name, square.Stats(), record.Stats(), many.Stats())
			s.Close()
			checkFrozenText(t, dir, false)
		})
	}
}

func glob(t *testing.T, dir, pattern string) []string {
	t.Helper()
	ps, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(pattern)))
	if err != nil || len(ps) == 0 {
		t.Fatalf("no %s in the frozen cache (%v): the damage would prove nothing", pattern, err)
	}
	return ps
}

func flipByte(t *testing.T, path string, at float64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[int(float64(len(b))*at)] ^= 0x40
	os.Chmod(path, 0o644) // objects are read-only: as any user but root, writing needs this
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
