package keying

import (
	"reflect"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/testutil"
)

// BenchmarkStableHashFloat64s hashes a []float64 of 32 Mi elements (256 MiB);
// the reported MB/s is the hashing throughput of large numeric slices.
func BenchmarkStableHashFloat64s(b *testing.B) {
	s := make([]float64, 32<<20)
	for i := range s {
		s[i] = float64(i) * 0.5
	}
	b.SetBytes(int64(len(s) * 8))
	b.ReportAllocs()
	cpu0 := testutil.CPUTime()
	for b.Loop() {
		if _, err := StableHash(s); err != nil {
			b.Fatal(err)
		}
	}
	reportCPUThroughput(b, cpu0, len(s)*8)
}

// reportCPUThroughput adds a "cpu-MB/s" metric: bytes hashed per second of
// CPU time used, which on a machine shared with other work says what the
// wall-clock MB/s would be when the process has a core to itself.
func reportCPUThroughput(b *testing.B, cpu0 time.Duration, bytesPerOp int) {
	if d := testutil.CPUTime() - cpu0; d > 0 && cpu0 > 0 {
		b.ReportMetric(float64(b.N)*float64(bytesPerOp)/d.Seconds()/1e6, "cpu-MB/s")
	}
}

// BenchmarkStableHashBytes is the same for a []byte of 256 MiB.
func BenchmarkStableHashBytes(b *testing.B) {
	s := make([]byte, 256<<20)
	b.SetBytes(int64(len(s)))
	cpu0 := testutil.CPUTime()
	defer func() { reportCPUThroughput(b, cpu0, len(s)) }()
	for b.Loop() {
		if _, err := StableHash(s); err != nil {
			b.Fatal(err)
		}
	}
}

type benchArgs struct {
	Path    string
	N       int
	Scale   float64
	Tags    []string
	Verbose bool `pcache:"-"`
	Limit   int  `pcache:",omitzero"`
}

// BenchmarkPlanKeySmall is the cost of keying a small argument struct, paid
// on every cache hit.
func BenchmarkPlanKeySmall(b *testing.B) {
	p, err := Compile(reflect.TypeFor[benchArgs](), nil)
	if err != nil {
		b.Fatal(err)
	}
	var v any = benchArgs{Path: "/data/input.csv", N: 1000, Scale: 0.5, Tags: []string{"a", "b"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Key("v1", v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalSmallMap is the cost of a small map value.
func BenchmarkMarshalSmallMap(b *testing.B) {
	v := map[string]any{"a": 1, "b": "two", "c": []int{3}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlake3Baseline is plain BLAKE3 over 256 MiB in 64 KiB writes: the
// ceiling for the two benchmarks above on this machine.
func BenchmarkBlake3Baseline(b *testing.B) {
	s := make([]byte, 256<<20)
	b.SetBytes(int64(len(s)))
	cpu0 := testutil.CPUTime()
	defer func() { reportCPUThroughput(b, cpu0, len(s)) }()
	for b.Loop() {
		h := blake3.New()
		for off := 0; off < len(s); off += chunkBytes {
			h.Write(s[off : off+chunkBytes])
		}
		h.Sum(nil)
	}
}
