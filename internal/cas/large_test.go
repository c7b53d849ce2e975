package cas

import (
	"encoding/binary"
	"io"
	"runtime"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/testutil"
)

// genReader produces size bytes that depend only on their offset (so read
// sizes do not matter), hashing them as it goes so the test knows the ID
// without storing the stream, and sampling heap use.
type genReader struct {
	size, off int64
	page      [64 << 10]byte
	h         *blake3.Hasher
	peakHeap  uint64
	nextCheck int64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), g.size-g.off))
	for i := 0; i < n; {
		po := int(g.off % int64(len(g.page)))
		if po == 0 {
			binary.LittleEndian.PutUint64(g.page[:], uint64(g.off))
		}
		m := copy(p[i:n], g.page[po:])
		i += m
		g.off += int64(m)
	}
	g.h.Write(p[:n])
	if g.off >= g.nextCheck {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g.peakHeap = max(g.peakHeap, ms.HeapInuse)
		g.nextCheck += 64 << 20
	}
	return n, nil
}

// A 1 GiB stream goes through PutReader in bounded memory (256 MiB under the
// race detector, to keep the test fast; still far beyond any buffer).
// Not parallel: it reads the whole process's heap.
func TestPutReaderLargeStreamBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB")
	}
	s, _ := newStore(t)
	size := int64(1 << 30)
	if testutil.Race {
		size = 256 << 20
	}
	g := &genReader{size: size, h: blake3.New()}
	for i := range g.page {
		g.page[i] = byte(i * 7)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	id, n, err := s.PutReader(g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Delete(id)
	var want ID
	g.h.Sum(want[:0])
	if id != want || n != size {
		t.Fatalf("PutReader = %s, %d; want %s, %d", id, n, want, size)
	}
	fi, err := s.statObject(id)
	if err != nil || fi.Size() != size {
		t.Fatalf("Stat = %v, %v", fi, err)
	}
	const limit = 32 << 20
	if growth := int64(g.peakHeap) - int64(base); growth > limit {
		t.Fatalf("heap in use grew by %d MiB while streaming %d MiB, want < %d MiB", growth>>20, size>>20, limit>>20)
	} else {
		t.Logf("heap in use grew by %.1f MiB while streaming %d MiB", float64(growth)/(1<<20), size>>20)
	}
}
