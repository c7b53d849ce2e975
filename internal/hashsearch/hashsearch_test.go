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
		if len(seed) > 0 && seed[0]%2 == 1 { // runs sharing their first 8 bytes
			ks = sharedPrefixes(len(ks), 1+int(seed[0]), rand.New(rand.NewPCG(s1, s2)))
		}
		at := func(j int) ([]byte, error) { return ks[j], nil }
		f, _ := NewFence(len(ks), at)
		for i, k := range ks {
			got, ok, _ := Search(len(ks), k, at)
			if !ok || !bytes.Equal(ks[got], ks[i]) {
				t.Fatalf("key %d: %d, %v", i, got, ok)
			}
			if got, ok, _ = f.Search(k, at); !ok || !bytes.Equal(ks[got], ks[i]) {
				t.Fatalf("key %d through the fence: %d, %v", i, got, ok)
			}
		}
	})
}

// sharedPrefixes returns n sorted keys in runs of run keys that share their
// first 8 bytes (differing after), so runs straddle the fence's samples.
func sharedPrefixes(n, run int, r *rand.Rand) [][]byte {
	ks := keys(n, r)
	for i := range ks {
		copy(ks[i][:8], ks[i-i%run][:8])
	}
	slices.SortFunc(ks, bytes.Compare)
	return ks
}

func TestFence(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name      string
		ks        [][]byte
		maxProbes float64 // per search, on average
	}{
		{"empty", nil, 0},
		{"one", keys(1, r), 1},
		{"one sample", keys(FenceStep, r), 6},
		{"a sample and one", keys(FenceStep+1, r), 6},
		{"1e3", keys(1000, r), 4},
		{"1e5", keys(100000, r), 3},
		{"shared prefixes", sharedPrefixes(5000, 3*FenceStep, r), 12},
		{"all one prefix", sharedPrefixes(2000, 2000, r), 8 + 11 + 2}, // interpolation is no help: O(log n)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probes := 0
			at := func(i int) ([]byte, error) { probes++; return tt.ks[i], nil }
			f, err := NewFence(len(tt.ks), func(i int) ([]byte, error) { return tt.ks[i], nil })
			if err != nil || f.Len() != len(tt.ks) {
				t.Fatalf("NewFence: %v, %d keys", err, f.Len())
			}
			for i, k := range tt.ks {
				if got, ok, _ := f.Search(k, at); !ok || !bytes.Equal(tt.ks[got], tt.ks[i]) {
					t.Fatalf("key %d found at %d, %v", i, got, ok)
				}
			}
			if n := len(tt.ks); n > 0 && float64(probes)/float64(n) > tt.maxProbes {
				t.Errorf("%.2f probes per search, want at most %.0f", float64(probes)/float64(n), tt.maxProbes)
			}
			for i := range 200 {
				miss := keys(1, rand.New(rand.NewPCG(uint64(i), 9)))[0]
				if _, ok, _ := f.Search(miss, at); ok && !slices.ContainsFunc(tt.ks, func(k []byte) bool { return bytes.Equal(k, miss) }) {
					t.Fatalf("found a missing key")
				}
			}
		})
	}
	// Over an unsorted index a fence finds what it finds, in O(log n).
	hostile := keys(1<<12, r)
	r.Shuffle(len(hostile), func(i, j int) { hostile[i], hostile[j] = hostile[j], hostile[i] })
	f, _ := NewFence(len(hostile), func(i int) ([]byte, error) { return hostile[i], nil })
	for _, k := range hostile[:100] {
		probes := 0
		f.Search(k, func(i int) ([]byte, error) { probes++; return hostile[i], nil })
		if probes > 64 {
			t.Fatalf("%d probes on a hostile index", probes)
		}
	}
	boom := errors.New("boom")
	if _, err := NewFence(100, func(int) ([]byte, error) { return nil, boom }); err != boom {
		t.Fatalf("NewFence error: %v", err)
	}
	// Samples a caller took itself: as many as NewFence takes, or no fence.
	for _, n := range []int{0, 1, FenceStep, FenceStep + 1, 100} {
		if f := FenceOf(n, make([]uint64, (n+FenceStep-1)/FenceStep)); f == nil || f.Len() != n {
			t.Fatalf("FenceOf(%d) with its samples: %v", n, f)
		}
		if f := FenceOf(n, make([]uint64, (n+FenceStep-1)/FenceStep+1)); f != nil {
			t.Fatalf("FenceOf(%d) with one sample too many: a fence", n)
		}
	}
}
