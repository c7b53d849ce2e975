package hashsearch

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func keys(n int, r *rand.Rand) [][]byte {
	ks := make([][]byte, n)
	for i := range ks {
		ks[i] = make([]byte, 32)
		for j := range ks[i] {
			ks[i][j] = byte(r.UintN(256))
		}
	}
	slices.SortFunc(ks, bytes.Compare)
	return ks
}

func TestSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 17, 1000, 100000} {
		ks := keys(n, r)
		probes := 0
		at := func(i int) ([]byte, error) { probes++; return ks[i], nil }
		for i, k := range ks {
			if got, ok, _ := Search(n, k, at); !ok || got != i {
				t.Fatalf("n=%d: key %d found at %d, %v", n, i, got, ok)
			}
		}
		if n > 0 && probes/n > 8 {
			t.Errorf("n=%d: %d probes per search", n, probes/n)
		}
		miss := make([]byte, 32)
		miss[0] = 0xff
		if _, ok, _ := Search(n, miss, at); ok && !slices.ContainsFunc(ks, func(k []byte) bool { return bytes.Equal(k, miss) }) {
			t.Fatalf("n=%d: found a missing key", n)
		}
	}
	// A hostile index (not sorted, all keys alike) still ends in O(log n).
	same := bytes.Repeat([]byte{7}, 32)
	probes := 0
	Search(1<<20, make([]byte, 32), func(int) ([]byte, error) { probes++; return same, nil })
	if probes > 64 {
		t.Fatalf("%d probes on a hostile index", probes)
	}
	boom := errors.New("boom")
	if _, _, err := Search(10, same, func(int) ([]byte, error) { return nil, boom }); err != boom {
		t.Fatalf("error: %v", err)
	}
}

func FuzzSearch(f *testing.F) {
	f.Add([]byte{1, 2, 3}, uint16(100))
	f.Fuzz(func(t *testing.T, seed []byte, n uint16) {
		var s1, s2 uint64
		for i, b := range seed {
			s1 ^= uint64(b) << (8 * (i % 8))
		}
		ks := keys(int(n%2000), rand.New(rand.NewPCG(s1, s2)))
		for i, k := range ks {
			got, ok, _ := Search(len(ks), k, func(j int) ([]byte, error) { return ks[j], nil })
			if !ok || !bytes.Equal(ks[got], ks[i]) {
				t.Fatalf("key %d: %d, %v", i, got, ok)
			}
		}
	})
}
