// Package hashsearch finds a key in a sorted index of uniformly distributed
// hashes (a manifest segment's index, a pack's) in a few probes.
package hashsearch

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
)

// Search returns the position of target among n keys sorted in increasing
// order, key(i) returning the i-th (at least 8 bytes; an error stops the
// search). As the keys are hashes, it interpolates on their first 8 bytes
// for its first probes — about 3 for a million keys instead of bisection's
// 20, and each probe of a cold index is a cache miss or a page fault — then
// bisects, which bounds the work on a hostile index to O(log n).
func Search(n int, target []byte, key func(i int) ([]byte, error)) (int, bool, error) {
	lo, hi := 0, n // the key, if present, is in [lo, hi)
	klo, khi := uint64(0), uint64(math.MaxUint64)
	t := binary.BigEndian.Uint64(target[:8])
	for probe := 0; lo < hi; probe++ {
		mid := lo + (hi-lo)/2
		if probe < 4 && hi-lo > 16 && khi > klo && t >= klo && t <= khi {
			// mid = lo + (t-klo)*(hi-lo)/(khi-klo), in 128 bits.
			p1, p0 := bits.Mul64(t-klo, uint64(hi-lo))
			if p1 < khi-klo {
				q, _ := bits.Div64(p1, p0, khi-klo)
				mid = lo + int(min(q, uint64(hi-lo-1)))
			}
		}
		k, err := key(mid)
		if err != nil {
			return 0, false, err
		}
		switch c := bytes.Compare(k, target); {
		case c == 0:
			return mid, true, nil
		case c < 0:
			lo, klo = mid+1, binary.BigEndian.Uint64(k)
		default:
			hi, khi = mid, binary.BigEndian.Uint64(k)
		}
	}
	return 0, false, nil
}
