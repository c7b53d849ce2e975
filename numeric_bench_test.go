package pcache_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/pcache/pcache"
)

// BenchmarkNumericResults stores and serves one large numeric result
// against a []byte result of the same size (the floor: a raw read of the
// object), in one run. The size is $PCACHE_BENCH_MB MiB (default 256):
//
//	PCACHE_BENCH_MB=1024 go test -run '^$' -bench NumericResults -benchtime 3x .
func BenchmarkNumericResults(b *testing.B) {
	mb := 256
	if v, err := strconv.Atoi(os.Getenv("PCACHE_BENCH_MB")); err == nil && v > 0 {
		mb = v
	}
	size := mb << 20
	floats := make([]float64, size/8)
	for i := range floats {
		floats[i] = float64(i) * 1.000001
	}
	raw := make([]byte, size)
	for i := range raw {
		raw[i] = byte(i * 7919 >> 8)
	}
	run := func(b *testing.B, name string, call func(ctx context.Context, s *pcache.Store, n int) error) {
		b.Run(name, func(b *testing.B) {
			s, err := pcache.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if err := call(ctx, s, 0); err != nil { // stored
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := call(ctx, s, i+1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	hit := func(name string, get func(ctx context.Context, s *pcache.Store) error) {
		run(b, "hit/"+name+fmt.Sprintf("/%dMiB", mb), func(ctx context.Context, s *pcache.Store, _ int) error { return get(ctx, s) })
	}
	hit("bytes", func(ctx context.Context, s *pcache.Store) error {
		_, err := pcache.MustWrap(s, "bench/raw", func(context.Context, int) ([]byte, error) { return raw, nil }).Call(ctx, 1)
		return err
	})
	hit("float64", func(ctx context.Context, s *pcache.Store) error {
		_, err := pcache.MustWrap(s, "bench/floats", func(context.Context, int) ([]float64, error) { return floats, nil }).Call(ctx, 1)
		return err
	})
	miss := func(name string, put func(ctx context.Context, s *pcache.Store, n int) error) {
		run(b, "miss/"+name+fmt.Sprintf("/%dMiB", mb), put)
	}
	miss("bytes", func(ctx context.Context, s *pcache.Store, n int) error {
		raw[0], raw[1] = byte(n), byte(n>>8) // a new object each time
		_, err := pcache.MustWrap(s, "bench/raw", func(context.Context, int) ([]byte, error) { return raw, nil }).Call(ctx, n)
		return err
	})
	miss("float64", func(ctx context.Context, s *pcache.Store, n int) error {
		floats[0] = float64(n)
		_, err := pcache.MustWrap(s, "bench/floats", func(context.Context, int) ([]float64, error) { return floats, nil }).Call(ctx, n)
		return err
	})
}
