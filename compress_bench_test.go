package pcache_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// benchJSON returns n bytes of JSON-like text (an API response, a report:
// records with repeating keys and varying values); seed makes each
// stored result distinct, so a store never deduplicates.
func benchJSON(seed, n int) []byte {
	b := make([]byte, 0, n+256)
	b = append(b, '[')
	for i := 0; len(b) < n; i++ {
		x := uint64(seed)*0x9e3779b97f4a7c15 + uint64(i)*0xbf58476d1ce4e5b9
		x ^= x >> 31
		b = fmt.Appendf(b, `{"id":%d,"user":"user-%d","email":"user%d@example.com","score":%d.%02d,"country":"%s","tags":["alpha","beta"],"active":%v},`,
			seed*1_000_000+i, x%5000, x%5000, x%1000, x%100, []string{"DE", "FR", "US", "JP", "BR"}[x%5], x%3 == 0)
	}
	return b[:n]
}

// benchRandom returns n incompressible bytes.
func benchRandom(seed, n int) []byte {
	b := make([]byte, n)
	x := uint64(seed)*0x9e3779b97f4a7c15 + 1
	for i := 0; i+8 <= n; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	return b
}

// BenchmarkCompress measures Compress against raw storage in one run, for
// JSON-like results and random data of PCACHE_BENCH_MB MiB (default 4):
// store (a miss: compute nothing, encode, compress, write, commit) and hit
// (read, decompress, verify, return) through Func.Call, with the bytes on
// disk per result ("disk-B/op") and how many times smaller that is than the
// result ("x-smaller"). A hit's MB/s is the decode speed a caller sees.
//
//	go test -run '^$' -bench Compress -benchtime 20x -count 3 .
func BenchmarkCompress(b *testing.B) {
	size := 4 << 20
	if mb, err := strconv.Atoi(os.Getenv("PCACHE_BENCH_MB")); err == nil && mb > 0 {
		size = mb << 20
	}
	for _, data := range []struct {
		name string
		gen  func(seed, n int) []byte
	}{{"json", benchJSON}, {"random", benchRandom}} {
		for _, mode := range []struct {
			name string
			opts []pcache.Option
		}{{"raw", nil}, {"zstd", []pcache.Option{pcache.Compress(0)}}} {
			wrap := func(s *pcache.Store) *pcache.Func[int, []byte] {
				return pcache.MustWrap(s, "bench/compress", func(_ context.Context, k int) ([]byte, error) {
					return data.gen(k, size), nil
				}, mode.opts...)
			}
			b.Run(data.name+"/"+mode.name+"/store", func(b *testing.B) {
				dir := b.TempDir()
				s, err := pcache.Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				inputs := make([][]byte, b.N)
				for i := range inputs {
					inputs[i] = data.gen(i, size) // generated outside the timer
				}
				f := pcache.MustWrap(s, "bench/compress-store", func(_ context.Context, k int) ([]byte, error) {
					return inputs[k], nil
				}, mode.opts...)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := f.Call(context.Background(), i); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				disk := testutil.TreeSize(filepath.Join(dir, "objects"))
				b.ReportMetric(float64(disk)/float64(b.N), "disk-B/op")
				b.ReportMetric(float64(size)*float64(b.N)/float64(disk), "x-smaller")
			})
			b.Run(data.name+"/"+mode.name+"/hit", func(b *testing.B) {
				dir := b.TempDir()
				s, err := pcache.Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				f := wrap(s)
				ctx := context.Background()
				if _, err := f.Call(ctx, 1); err != nil {
					b.Fatal(err)
				}
				hit := pcache.ErrorOnMiss(ctx)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := f.Call(hit, 1); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(testutil.TreeSize(filepath.Join(dir, "objects"))), "disk-B/op")
			})
		}
	}
}
