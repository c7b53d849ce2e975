package cas

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/testutil"
	"github.com/zeebo/blake3"
)

// Benchmarks come in pairs: the store operation and its floor, the plain
// file-system work (plus hashing where the store must hash) that no store
// can avoid.
//
//	go test -run '^$' -bench . -benchtime 2s ./cas

const (
	smallSize = 100
	bigSize   = 256 << 20
)

func BenchmarkGetSmall(b *testing.B) {
	s, _ := newStore(b)
	id := mustPut(b, s, testutil.Bytes(1, smallSize))
	b.SetBytes(smallSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(id, -1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetSizeSmall(b *testing.B) {
	s, _ := newStore(b)
	id := mustPut(b, s, testutil.Bytes(1, smallSize))
	b.SetBytes(smallSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(id, smallSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorReadSmall is os.ReadFile of a 100-byte file: the floor for
// BenchmarkGetSmall, which must also hash.
func BenchmarkFloorReadSmall(b *testing.B) {
	p := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(p, testutil.Bytes(1, smallSize), 0o444); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(smallSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorReadSmallHashed is os.ReadFile plus BLAKE3 of a 100-byte
// file: exactly the work a verified Get does.
func BenchmarkFloorReadSmallHashed(b *testing.B) {
	p := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(p, testutil.Bytes(1, smallSize), 0o444); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(smallSize)
	b.ReportAllocs()
	for b.Loop() {
		d, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		blake3.Sum256(d)
	}
}

func BenchmarkOpenReadSmall(b *testing.B) {
	s, _ := newStore(b)
	id := mustPut(b, s, testutil.Bytes(1, smallSize))
	buf := make([]byte, 512)
	b.SetBytes(smallSize)
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.Open(id)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
		r.Close()
	}
}

// BenchmarkPutSmallNew stores a new 100-byte object per iteration.
func BenchmarkPutSmallNew(b *testing.B) {
	s, _ := newStore(b)
	d := testutil.Bytes(2, smallSize)
	b.SetBytes(smallSize)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i++
		binary.LittleEndian.PutUint64(d, i)
		if _, err := s.Put(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutSmallExisting is the duplicate write: hash, lstat, done.
func BenchmarkPutSmallExisting(b *testing.B) {
	s, _ := newStore(b)
	d := testutil.Bytes(2, smallSize)
	mustPut(b, s, d)
	b.SetBytes(smallSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Put(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorWriteSmall is BLAKE3 plus os.WriteFile of a new 100-byte
// file: the floor for BenchmarkPutSmallNew (which also renames).
func BenchmarkFloorWriteSmall(b *testing.B) {
	dir := b.TempDir()
	d := testutil.Bytes(2, smallSize)
	b.SetBytes(smallSize)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		blake3.Sum256(d)
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), d, 0o444); err != nil {
			b.Fatal(err)
		}
	}
}

// big returns a 256 MiB buffer, shared by the big benchmarks.
var bigBuf []byte

func big() []byte {
	if bigBuf == nil {
		bigBuf = testutil.Bytes(3, bigSize)
	}
	return bigBuf
}

// BenchmarkPut256M stores a new 256 MiB object per iteration (the previous
// one is deleted, untimed, to bound disk use).
func BenchmarkPut256M(b *testing.B) {
	s, _ := newStore(b)
	d := big()
	b.SetBytes(bigSize)
	i := uint64(0)
	for b.Loop() {
		i++
		binary.LittleEndian.PutUint64(d, i)
		id, err := s.Put(d)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Delete(id)
		b.StartTimer()
	}
}

func BenchmarkPutReader256M(b *testing.B) {
	s, _ := newStore(b)
	d := big()
	b.SetBytes(bigSize)
	i := uint64(0)
	for b.Loop() {
		i++
		binary.LittleEndian.PutUint64(d, i)
		id, _, err := s.PutReader(onlyReader{bytesReader(d)})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Delete(id)
		b.StartTimer()
	}
}

// BenchmarkFloorWrite256M is BLAKE3 plus os.WriteFile of a new 256 MiB file.
func BenchmarkFloorWrite256M(b *testing.B) {
	dir := b.TempDir()
	d := big()
	b.SetBytes(bigSize)
	i := uint64(0)
	for b.Loop() {
		i++
		binary.LittleEndian.PutUint64(d, i)
		blake3.Sum256(d)
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, d, 0o444); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(p)
		b.StartTimer()
	}
}

func BenchmarkGet256M(b *testing.B) {
	s, _ := newStore(b)
	id := mustPut(b, s, big())
	b.SetBytes(bigSize)
	for b.Loop() {
		if _, err := s.Get(id, -1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorRead256M is os.ReadFile plus BLAKE3 of a 256 MiB file.
func BenchmarkFloorRead256M(b *testing.B) {
	p := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(p, big(), 0o444); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(bigSize)
	for b.Loop() {
		d, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		blake3.Sum256(d)
	}
}

func BenchmarkVerify256M(b *testing.B) {
	s, _ := newStore(b)
	id := mustPut(b, s, big())
	b.SetBytes(bigSize)
	for b.Loop() {
		if err := s.Verify(id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCopyTo256M(b *testing.B) {
	s, _ := newStore(b)
	id := mustPut(b, s, big())
	dir := b.TempDir()
	b.SetBytes(bigSize)
	for b.Loop() {
		f, err := os.Create(filepath.Join(dir, "out"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.CopyTo(id, f); err != nil {
			b.Fatal(err)
		}
		f.Close()
		b.StopTimer()
		os.Remove(f.Name())
		b.StartTimer()
	}
}

// BenchmarkFloorCopy256M is the floor for CopyTo: read, hash, write.
func BenchmarkFloorCopy256M(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, big(), 0o444); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(bigSize)
	for b.Loop() {
		d, err := os.ReadFile(src)
		if err != nil {
			b.Fatal(err)
		}
		blake3.Sum256(d)
		if err := os.WriteFile(filepath.Join(dir, "out"), d, 0o644); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(filepath.Join(dir, "out"))
		b.StartTimer()
	}
}

// BenchmarkGet256MSequential is Get with the read/hash pipeline turned off,
// to show what the pipeline is worth.
func BenchmarkGet256MSequential(b *testing.B) {
	old := pipelineMin
	pipelineMin = math.MaxInt
	defer func() { pipelineMin = old }()
	BenchmarkGet256M(b)
}

// BenchmarkSealSmall is Seal of a pack of 100,000 small objects: sorting
// and writing its index (what a process that stored them pays in Close).
func BenchmarkSealSmall(b *testing.B) {
	const n = 100_000
	d := testutil.Bytes(3, smallSize)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, err := Open(layout.New(filepath.Join(b.TempDir(), "cache")), Options{}) // small objects in packs
		if err != nil {
			b.Fatal(err)
		}
		for i := range uint64(n) {
			binary.LittleEndian.PutUint64(d, i)
			if _, err := s.Put(d); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := s.Seal(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}
