package cas

import (
	"encoding/binary"
	"testing"
)

// TestIdxEntries: a pack's entries, added one by one across chunk
// boundaries, come back sorted by ID, every one of them; small packs keep
// small chunks.
func TestIdxEntries(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 200, idxChunk, idxChunk + 1, 3*idxChunk + 17} {
		var e idxEntries
		for i := range n {
			var id ID
			binary.BigEndian.PutUint64(id[:], uint64((i*7919)%n)) // out of order
			binary.BigEndian.PutUint64(id[8:], uint64(i))         // and unique
			e.add(idxEntry{id: id, off: int64(i), size: uint32(i)})
		}
		got := e.sorted()
		if len(got) != n || e.n != n {
			t.Fatalf("n=%d: %d sorted, %d counted", n, len(got), e.n)
		}
		seen := make(map[int64]bool, n)
		for i, x := range got {
			if i > 0 && string(got[i-1].id[:]) >= string(x.id[:]) {
				t.Fatalf("n=%d: entries %d and %d out of order", n, i-1, i)
			}
			seen[x.off] = true
		}
		if len(seen) != n {
			t.Fatalf("n=%d: %d distinct entries back", n, len(seen))
		}
		if n > 0 && n <= 64 && cap(e.chunks[0]) != 64 {
			t.Fatalf("n=%d: first chunk of %d entries", n, cap(e.chunks[0]))
		}
		for _, c := range e.chunks {
			if cap(c) > idxChunk {
				t.Fatalf("n=%d: a chunk of %d entries", n, cap(c))
			}
		}
	}
}
