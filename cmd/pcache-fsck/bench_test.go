package main

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/maintain"
)

// BenchmarkCheck measures check end to end (process start, manifests,
// references, hashing every object on all cores) on 64 objects of 16 MiB
// that are in the page cache after the first read. MB/s counts object bytes.
//
//	go test -run '^$' -bench Check -benchtime 5x ./cmd/pcache-fsck
func BenchmarkCheck(b *testing.B) {
	const objects, size = 64, 16 << 20
	c := newTestCache(b)
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, size)
	for i := 0; i < objects; i++ {
		rng.Read(buf)
		c.Add("bench/f", c.Entry(fmt.Sprintf("k%d", i), buf))
	}
	execCLI(b, "check", "-dir", c.Dir) // warm the page cache
	b.SetBytes(objects * size)
	b.ResetTimer()
	var rep maintain.CheckReport
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		r := execCLI(b, "check", "-dir", c.Dir, "-json")
		if r.code != 0 {
			b.Fatalf("check: exit %d\n%s", r.code, r.stderr)
		}
		decodeJSON(b, r.stdout, &rep)
		cpu += r.cpu
	}
	b.StopTimer()
	// Wall-clock rate as check itself measured it, and bytes per CPU-second
	// (user+sys of the process): the latter does not depend on what else
	// the machine runs; on an idle machine the wall rate approaches it
	// times the number of cores.
	b.ReportMetric(float64(rep.HashedBytes)/rep.Seconds/1e9, "GB/s-in-check")
	b.ReportMetric(float64(objects*size)*float64(b.N)/cpu.Seconds()/1e9, "GB/cpu-s")
}
