package pcache_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache"
)

type benchArgs struct {
	Name string
	N    int
	Rate float64
}

func benchFunc(b *testing.B, s *pcache.Store, name string) *pcache.Func[benchArgs, string] {
	f, err := pcache.Wrap(s, name, func(_ context.Context, a benchArgs) (string, error) {
		return "result for " + a.Name, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// fillEntries stores n entries under name quickly, through WrapBatch (one
// manifest append per 10,000 elements; all results share one object).
func fillEntries(b *testing.B, s *pcache.Store, name string, n int) {
	f := pcache.MustWrapBatch(s, name, func(_ context.Context, as []benchArgs) ([]string, error) {
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = "result for " + a.Name
		}
		return out, nil
	})
	for lo := 0; lo < n; lo += 10000 {
		batch := make([]benchArgs, 0, 10000)
		for i := lo; i < min(n, lo+10000); i++ {
			batch = append(batch, benchArgs{Name: "k", N: i, Rate: 0.5})
		}
		if _, err := f.Call(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
}

var bigDirs sync.Map // entries → dir, built once per test binary run

func filledDir(b *testing.B, entries int) string {
	if d, ok := bigDirs.Load(entries); ok {
		return d.(string)
	}
	dir, err := os.MkdirTemp("", "pcache-bench-")
	if err != nil {
		b.Fatal(err)
	}
	s, err := pcache.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	fillEntries(b, s, "bench/hit", entries)
	s.Close()
	bigDirs.Store(entries, dir)
	return dir
}

// hitKeys returns 1000 keys spread evenly over a function's entries: the same
// working set whatever the entries, so that a larger function differs only
// in the size of its index.
func hitKeys(entries int) []benchArgs {
	keys := make([]benchArgs, min(1000, entries))
	for j := range keys {
		keys[j] = benchArgs{Name: "k", N: j * entries / len(keys), Rate: 0.5}
	}
	return keys
}

// openHit opens a Store on a directory filled with entries entries and wraps
// its function, checking that the hit keys are there.
func openHit(b *testing.B, entries int) (*pcache.Store, *pcache.Func[benchArgs, string], []benchArgs) {
	if entries > 1e3 && testing.Short() {
		b.Skip("large functions: skipped in -short")
	}
	s, err := pcache.Open(filledDir(b, entries))
	if err != nil {
		b.Fatal(err)
	}
	f := benchFunc(b, s, "bench/hit")
	keys := hitKeys(entries)
	for _, k := range keys {
		if ok, _ := f.Contains(context.Background(), k); !ok {
			b.Fatalf("bench entry %d missing", k.N)
		}
	}
	return s, f, keys
}

// BenchmarkHit measures a hit with a small result in a warm process, with
// 1e3, 1e5 and 1e6 entries in the function, cycling through 1000 keys.
func BenchmarkHit(b *testing.B) {
	for _, entries := range []int{1e3, 1e5, 1e6} {
		b.Run(fmt.Sprintf("entries=%d", entries), func(b *testing.B) {
			s, f, keys := openHit(b, entries)
			defer s.Close()
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				if _, err := f.Call(ctx, keys[i%len(keys)]); err != nil {
					b.Fatal(err)
				}
			}
			if st := f.Stats(); st.Computes != 0 {
				b.Fatalf("%d computations in a hit benchmark", st.Computes)
			}
		})
	}
}

// parallelOps runs b.N calls of op spread over g goroutines, so ns/op is
// wall time per op with all goroutines together (the inverse of throughput):
// scaling shows as goroutines=8 ns/op below goroutines=1.
func parallelOps(b *testing.B, g int, op func(w, i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := 0; w < g; w++ {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := op(w, int(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkHitParallel measures hits with a small result (1e3 entries) from
// 1 and from 8 goroutines: compare with BenchmarkFloorSmallFileReadParallel.
func BenchmarkHitParallel(b *testing.B) {
	for _, g := range []int{1, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			s, f, keys := openHit(b, 1e3)
			defer s.Close()
			ctx := context.Background()
			parallelOps(b, g, func(_, i int) error {
				_, err := f.Call(ctx, keys[i%len(keys)])
				return err
			})
		})
	}
}

// BenchmarkFloorSmallFileReadParallel is the floor of BenchmarkHitParallel:
// small-file open+read+close from 1 and from 8 goroutines.
func BenchmarkFloorSmallFileReadParallel(b *testing.B) {
	p := filepath.Join(b.TempDir(), "small")
	os.WriteFile(p, smallPayload, 0o644)
	for _, g := range []int{1, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			bufs := make([][]byte, g)
			for w := range bufs {
				bufs[w] = make([]byte, 4096)
			}
			parallelOps(b, g, func(w, _ int) error { return readSmall(p, bufs[w]) })
		})
	}
}

// BenchmarkFirstHitFreshProcess opens the Store anew, wraps and calls once:
// what a new process pays for its first hit on a function with 1e6 entries.
func BenchmarkFirstHitFreshProcess(b *testing.B) {
	if testing.Short() {
		b.Skip("1e6 entries: skipped in -short")
	}
	dir := filledDir(b, 1e6)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		s, err := pcache.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		f := benchFunc(b, s, "bench/hit")
		i = (i + 7919) % 1e6
		if _, err := f.Call(pcache.ErrorOnMiss(ctx), benchArgs{Name: "k", N: i, Rate: 0.5}); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkMiss measures the bookkeeping of a miss: key, lock, compute
// (instant), encode, store object, append manifest record. Every key has its
// own result, so every miss writes a new object.
func BenchmarkMiss(b *testing.B) {
	s, err := pcache.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	f, err := pcache.Wrap(s, "bench/miss", func(_ context.Context, a benchArgs) (string, error) {
		return fmt.Sprintf("result %d", a.N), nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	n := 0
	for b.Loop() {
		n++
		if _, err := f.Call(ctx, benchArgs{Name: "k", N: n}); err != nil {
			b.Fatal(err)
		}
	}
}

// smallPayload is about the size of a small encoded result.
var smallPayload = []byte("result for k, about the size of a small cached value")

// readSmall is the small-file floor: open(2), one read(2), close(2), the
// least any read of a file can do (os.ReadFile adds an fstat, a read that
// finds EOF and a poller registration attempt). internal/cmd/pcache-bench uses the
// same floor.
func readSmall(p string, buf []byte) error {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	n, err := syscall.Read(fd, buf)
	syscall.Close(fd)
	if err != nil || n != len(smallPayload) {
		return fmt.Errorf("read %s: %d bytes, %v", p, n, err)
	}
	return nil
}

// BenchmarkFloorSmallFileRead is the floor a small hit is compared with: one
// open+read+close of a small file.
func BenchmarkFloorSmallFileRead(b *testing.B) {
	p := filepath.Join(b.TempDir(), "small")
	os.WriteFile(p, smallPayload, 0o644)
	buf := make([]byte, 4096)
	for b.Loop() {
		if err := readSmall(p, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorSmallFileWrite is the floor a miss is compared with: one small
// file write+rename (open, write, close, rename; no fsync, as pcache's default).
func BenchmarkFloorSmallFileWrite(b *testing.B) {
	dir := b.TempDir()
	tmp := filepath.Join(dir, "tmp")
	n := 0
	for b.Loop() {
		n++
		fd, err := syscall.Open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := syscall.Write(fd, smallPayload); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Close(fd); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Rename(tmp, filepath.Join(dir, fmt.Sprint(n))); err != nil {
			b.Fatal(err)
		}
	}
}

const big = 256 << 20

func bigBytes() []byte {
	data := make([]byte, big)
	for i := range data {
		data[i] = byte(i * 7919 >> 8)
	}
	return data
}

// BenchmarkStoreBig stores a new 256 MiB []byte result per iteration.
func BenchmarkStoreBig(b *testing.B) {
	s, err := pcache.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := bigBytes()
	n := 0
	f := pcache.MustWrap(s, "bench/big", func(_ context.Context, i int) ([]byte, error) {
		data[0] = byte(i) // a new object each time
		data[1] = byte(i >> 8)
		return data, nil
	})
	b.SetBytes(big)
	for b.Loop() {
		n++
		if _, err := f.Call(context.Background(), n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHitBig reads a 256 MiB []byte result back, verified.
func BenchmarkHitBig(b *testing.B) {
	s, err := pcache.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := bigBytes()
	f := pcache.MustWrap(s, "bench/big", func(_ context.Context, i int) ([]byte, error) { return data, nil })
	ctx := context.Background()
	if _, err := f.Call(ctx, 1); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(big)
	for b.Loop() {
		if _, err := f.Call(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorWriteBig: raw BLAKE3 of 256 MiB plus a plain os.WriteFile.
func BenchmarkFloorWriteBig(b *testing.B) {
	dir := b.TempDir()
	data := bigBytes()
	b.SetBytes(big)
	n := 0
	for b.Loop() {
		n++
		blake3.Sum256(data)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(n%2)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorReadBig: a plain os.ReadFile of 256 MiB plus raw BLAKE3.
func BenchmarkFloorReadBig(b *testing.B) {
	p := filepath.Join(b.TempDir(), "big")
	if err := os.WriteFile(p, bigBytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(big)
	for b.Loop() {
		d, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		blake3.Sum256(d)
	}
}

// BenchmarkBatch measures one WrapBatch call of 10,000 elements, all hits or
// all misses (with an instant fn); ns/elem is the figure to read.
func BenchmarkBatch(b *testing.B) {
	const n = 10000
	mk := func(lo int) []benchArgs {
		out := make([]benchArgs, n)
		for i := range out {
			out[i] = benchArgs{Name: "k", N: lo + i, Rate: 0.5}
		}
		return out
	}
	fn := func(_ context.Context, as []benchArgs) ([]string, error) {
		out := make([]string, len(as))
		for i, a := range as {
			out[i] = fmt.Sprintf("result %d", a.N)
		}
		return out, nil
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/elem")
	}
	// hits-after-reopen are the hits of a later run: the batch was stored
	// by a Store now closed (as by an earlier process), so its records are
	// in a segment and its objects in a sealed pack, not in this Store's
	// journal and pack as they are for hits.
	for _, reopen := range []bool{false, true} {
		name := "hits"
		if reopen {
			name = "hits-after-reopen"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			s, err := pcache.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			f := pcache.MustWrapBatch(s, "bench/batch", fn)
			in := mk(0)
			if _, err := f.Call(context.Background(), in); err != nil {
				b.Fatal(err)
			}
			if reopen {
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				if s, err = pcache.Open(dir); err != nil {
					b.Fatal(err)
				}
				f = pcache.MustWrapBatch(s, "bench/batch", fn)
			}
			defer s.Close()
			for b.Loop() {
				if _, err := f.Call(pcache.ErrorOnMiss(context.Background()), in); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		})
	}
	b.Run("misses", func(b *testing.B) {
		s, err := pcache.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		f := pcache.MustWrapBatch(s, "bench/batch", fn)
		lo := 0
		for b.Loop() {
			lo += n
			if _, err := f.Call(context.Background(), mk(lo)); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
}
