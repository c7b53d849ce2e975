package manifest

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil"
)

// benchRoots holds manifests built once per test binary run, by size.
var (
	benchMu    sync.Mutex
	benchRoots = map[int]string{}
	benchKeys  = map[int][][32]byte{}
)

func TestMain(m *testing.M) {
	code := testutil.Run(m)
	for _, r := range benchRoots {
		os.RemoveAll(r)
	}
	os.Exit(code)
}

// benchManifest returns a root whose manifest "bench" is one compacted
// segment of n entries, written directly with the segment writer (building
// a million-entry manifest through Append and compaction would take far
// longer than the benchmark), and a sample of its keys in random order.
func benchManifest(b *testing.B, n int) (string, [][32]byte) {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if r, ok := benchRoots[n]; ok {
		return r, benchKeys[n]
	}
	root, err := os.MkdirTemp("", "pcache-manifest-bench")
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]record.KeyHash, n)
	for i := range keys {
		keys[i] = kh(i)
	}
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(x, y int32) int { return bytes.Compare(keys[x][:], keys[y][:]) })
	dir, _ := manifestDir(layout.New(root), "bench")
	_, err = writeSegment(filepath.Join(root, "tmp"), dir, "bench", n, func(i int) (*record.KeyHash, []byte, error) {
		k := int(idx[i])
		e := ent(k, "v")
		e.Time = 1_700_000_000_000_000_000 + int64(k)
		p, err := record.Encode(&e)
		return &keys[k], p, err
	}, false)
	if err != nil {
		b.Fatal(err)
	}
	sample := make([][32]byte, min(n, 1<<16))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range sample {
		sample[i] = keys[rng.IntN(n)]
	}
	benchRoots[n], benchKeys[n] = root, sample
	return root, sample
}

// BenchmarkLookupHit looks up keys present in a manifest that is one
// compacted segment of n entries, in random order over a set of distinct
// keys: all 1000 keys for n=1000; for n=1e6 either 65536 keys spread over
// the 40 MB index and 110 MB of records (so most probes miss the CPU caches
// and TLB), or a hot set of 1000 keys (the same working set as n=1000, so
// the difference is what the larger index itself costs).
func BenchmarkLookupHit(b *testing.B) {
	run := func(b *testing.B, n, distinct int) {
		root, keys := benchManifest(b, n)
		keys = keys[:min(distinct, len(keys))]
		m := mustOpen(b, root, "bench", Options{ReadOnly: true})
		for _, k := range keys { // warm: pages mapped, caches filled
			m.Lookup(k)
		}
		b.ReportAllocs()
		cpu := testutil.CPUTime()
		i := 0
		for b.Loop() {
			if _, ok, err := m.Lookup(keys[i%len(keys)]); !ok || err != nil {
				b.Fatal("miss", err)
			}
			i++
		}
		reportCPU(b, cpu)
	}
	b.Run("segment/n=1000", func(b *testing.B) { run(b, 1e3, 1000) })
	b.Run("segment/n=1000000/keys=65536", func(b *testing.B) { run(b, 1e6, 1<<16) })
	b.Run("segment/n=1000000/keys=1000", func(b *testing.B) { run(b, 1e6, 1000) })
	b.Run("journal/n=1000", func(b *testing.B) {
		m := mustOpen(b, b.TempDir(), "bench", Options{JournalLimit: 1 << 20})
		var keys [][32]byte
		for i := 0; i < 1000; i++ {
			mustAppend(b, m, ent(i, "v"))
			keys = append(keys, kh(i))
		}
		b.ReportAllocs()
		cpu := testutil.CPUTime()
		i := 0
		for b.Loop() {
			if _, ok, err := m.Lookup(keys[i%len(keys)]); !ok || err != nil {
				b.Fatal("miss", err)
			}
			i++
		}
		reportCPU(b, cpu)
	})
}

func BenchmarkAppend(b *testing.B) {
	m := mustOpen(b, b.TempDir(), "bench", Options{})
	b.ReportAllocs()
	cpu := testutil.CPUTime()
	i := 0
	for b.Loop() {
		if err := m.Append(ent(i, "v")); err != nil {
			b.Fatal(err)
		}
		i++
	}
	m.Close() // waits for the background compactions the appends caused
	reportCPU(b, cpu)
}

// reportCPU reports the process's CPU time since start per operation.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(testutil.CPUTime()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkOpenFirstLookup1e6(b *testing.B) {
	root, keys := benchManifest(b, 1e6)
	b.ReportAllocs()
	cpu := testutil.CPUTime()
	i := 0
	for b.Loop() {
		m, err := Open(layout.New(root), "bench", Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, ok, err := m.Lookup(keys[i%len(keys)]); !ok || err != nil {
			b.Fatal("miss", err)
		}
		m.Close()
		i++
	}
	reportCPU(b, cpu)
}

// BenchmarkCompact measures a full compaction of 16 dead journals of 1024
// records each (a quarter of them rewriting older keys) and one segment of
// 65536 records.
func BenchmarkCompact(b *testing.B) {
	const journals, per, segN = 16, 1024, 1 << 16
	var recs int
	for b.Loop() {
		b.StopTimer()
		root := b.TempDir()
		var es []Entry
		for i := 0; i < segN; i++ {
			e := ent(i, "seg")
			e.Time = 1
			es = append(es, e)
		}
		writeSeg(b, root, "c", es...)
		for j := 0; j < journals; j++ {
			es = es[:0]
			for i := 0; i < per; i++ {
				k := segN + j*per + i
				if i%4 == 0 {
					k = j*per + i // an update of a segment key
				}
				e := ent(k, "j")
				e.Time = 2
				es = append(es, e)
			}
			rawJournal(b, root, "c", es...)
		}
		m := mustOpen(b, root, "c", Options{ReadOnly: true})
		c := m.compaction()
		m.Close()
		b.StartTimer()
		if err := c.run(true, true); err != nil {
			b.Fatal(err)
		}
		recs += segN + journals*per
	}
	b.ReportMetric(float64(recs)/b.Elapsed().Seconds(), "records/s")
}
