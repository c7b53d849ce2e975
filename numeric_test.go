package pcache_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"testing"

	"github.com/pcache/pcache"
)

type series []float64

// numericRoundTrip stores v through a Func of its type, then serves it
// from a fresh Store: the miss and the hit must both return v, bit for bit
// (NaN payloads, -0 and infinities included), nil as nil and empty as
// empty.
func numericRoundTrip[T any](t *testing.T, name string, v T) {
	t.Helper()
	dir := t.TempDir()
	fn := func(context.Context, int) (T, error) { return v, nil }
	s := openStore(t, dir)
	miss := mustCall(t, pcache.MustWrap(s, "numeric/"+name, fn), context.Background(), 1)
	s.Close()
	s2 := openStore(t, dir)
	hf := pcache.MustWrap(s2, "numeric/"+name, func(context.Context, int) (T, error) {
		var zero T
		return zero, fmt.Errorf("computed again")
	})
	hit, err := hf.Call(pcache.ErrorOnMiss(context.Background()), 1)
	if err != nil {
		t.Fatalf("%s: hit: %v", name, err)
	}
	for what, got := range map[string]T{"miss": miss, "hit": hit} {
		if !bitEqual(reflect.ValueOf(got), reflect.ValueOf(v)) {
			t.Errorf("%s: %s returned %v, want %v", name, what, got, v)
		}
	}
}

// bitEqual compares slices element by element, floats by their bits, and
// nil apart from empty.
func bitEqual(a, b reflect.Value) bool {
	if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
		return false
	}
	for i := range a.Len() {
		x, y := a.Index(i), b.Index(i)
		switch x.Kind() {
		case reflect.Float32:
			if math.Float32bits(float32(x.Float())) != math.Float32bits(float32(y.Float())) {
				return false
			}
		case reflect.Float64:
			if math.Float64bits(x.Float()) != math.Float64bits(y.Float()) {
				return false
			}
		default:
			if !x.Equal(y) {
				return false
			}
		}
	}
	return true
}

// TestNumericResults (issue 24): slices of fixed-size numbers round-trip
// exactly through a miss and a hit.
func TestNumericResults(t *testing.T) {
	t.Parallel()
	payloadNaN := math.Float64frombits(0x7ff8_0000_dead_beef)
	numericRoundTrip(t, "float64", []float64{1.5, math.Copysign(0, -1), math.Inf(-1), payloadNaN, math.MaxFloat64, math.SmallestNonzeroFloat64})
	numericRoundTrip(t, "float32", []float32{1.5, float32(math.Inf(1)), math.Float32frombits(0x7fc0_1234)})
	numericRoundTrip(t, "int8", []int8{-128, 0, 127})
	numericRoundTrip(t, "int16", []int16{-32768, 1, 32767})
	numericRoundTrip(t, "int32", []int32{math.MinInt32, 7, math.MaxInt32})
	numericRoundTrip(t, "int64", []int64{math.MinInt64, -1, math.MaxInt64})
	numericRoundTrip(t, "int", []int{-5, 0, 1 << 30})
	numericRoundTrip(t, "uint16", []uint16{0, 65535})
	numericRoundTrip(t, "uint32", []uint32{0, math.MaxUint32})
	numericRoundTrip(t, "uint64", []uint64{0, math.MaxUint64})
	numericRoundTrip(t, "named", series{3, 1, 4, 1, 5})
	numericRoundTrip(t, "nil", []float64(nil))
	numericRoundTrip(t, "empty", []float64{})
	big := make([]float64, 1<<16)
	for i := range big {
		big[i] = float64(i) / 3
	}
	numericRoundTrip(t, "large", big)
	streamed := make([]int32, 1<<19) // 2 MiB: read as a stream, straight into the slice
	for i := range streamed {
		streamed[i] = int32(i * 7919)
	}
	numericRoundTrip(t, "streamed", streamed)
}

// TestNumericStreamedDamage: a large numeric result whose object is
// damaged on disk is recomputed, never served.
func TestNumericStreamedDamage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v := make([]float64, 1<<18) // 2 MiB: streamed
	for i := range v {
		v[i] = float64(i)
	}
	var computed int
	fn := func(context.Context, int) ([]float64, error) { computed++; return v, nil }
	s := openStore(t, dir)
	f := pcache.MustWrap(s, "numeric/damage", fn)
	mustCall(t, f, context.Background(), 1)
	objs := objectFiles(t, dir)
	if len(objs) != 1 {
		t.Fatalf("want one loose object, got %v", objs)
	}
	b, err := os.ReadFile(objs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 1 // the last element: caught only by the hash at the end
	os.Chmod(objs[0], 0o644)
	if err := os.WriteFile(objs[0], b, 0o444); err != nil {
		t.Fatal(err)
	}
	got := mustCall(t, f, context.Background(), 1)
	if computed != 2 || !reflect.DeepEqual(got, v) || f.Stats().Corrupt != 1 {
		t.Fatalf("a damaged object: computed %d times, corrupt %d, equal %v", computed, f.Stats().Corrupt, reflect.DeepEqual(got, v))
	}
}

// TestNumericOldEntriesServe: an entry stored element by element (as
// earlier releases stored every slice) keeps serving, and ModeVerify finds
// it equal to a recomputation.
func TestNumericOldEntriesServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v := []float64{2.5, -1, math.Inf(1)}
	fn := func(context.Context, int) ([]float64, error) { return v, nil }
	s := openStore(t, dir)
	// The CBOR codec, named explicitly, stores the slice element by
	// element under the same key (same codec name).
	mustCall(t, pcache.MustWrap(s, "numeric/old", fn, pcache.WithCodec(pcache.CBOR)), context.Background(), 1)
	s.Close()
	s2 := openStore(t, dir)
	var computed int
	f := pcache.MustWrap(s2, "numeric/old", func(ctx context.Context, n int) ([]float64, error) {
		computed++
		return fn(ctx, n)
	})
	got, err := f.Call(pcache.ErrorOnMiss(context.Background()), 1)
	if err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("old entry: %v, %v", got, err)
	}
	if _, err := f.Call(pcache.WithMode(context.Background(), pcache.ModeVerify), 1); err != nil || computed != 1 {
		t.Fatalf("verify of an old entry: %v (computed %d)", err, computed)
	}
}
