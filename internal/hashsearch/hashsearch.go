// Package hashsearch finds a key in a sorted index of uniformly distributed
// hashes (a manifest segment's index, a pack's) in a few probes, fewer
// still through a Fence, a sample of the index kept in memory.
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
// for its first 8 probes — about 4.3 probes for a million keys instead of
// bisection's 20, and each probe of a cold index is a cache miss or a page
// fault — then bisects, which bounds the work on a hostile index to
// O(log n). A Fence brings it to about 2.4, in one run of the index.
func Search(n int, target []byte, key func(i int) ([]byte, error)) (int, bool, error) {
	return searchRange(0, n, 0, math.MaxUint64, target, key)
}

// searchRange is Search within [lo, hi), whose keys' first 8 bytes lie in
// [klo, khi].
func searchRange(lo, hi int, klo, khi uint64, target []byte, key func(i int) ([]byte, error)) (int, bool, error) {
	t := binary.BigEndian.Uint64(target[:8])
	for probe := 0; lo < hi; probe++ {
		mid := lo + (hi-lo)/2
		if probe < 8 {
			mid = guess(lo, hi, klo, khi, t, mid)
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

// guess interpolates t's position in [lo, hi) from the bounds of the keys
// there, or returns mid when the range is small or the bounds do not hold t.
func guess(lo, hi int, klo, khi, t uint64, mid int) int {
	if hi-lo <= 4 || khi <= klo || t < klo || t > khi {
		return mid
	}
	// lo + (t-klo)*(hi-lo)/(khi-klo), in 128 bits.
	p1, p0 := bits.Mul64(t-klo, uint64(hi-lo))
	if p1 >= khi-klo {
		return mid
	}
	q, _ := bits.Div64(p1, p0, khi-klo)
	return lo + int(min(q, uint64(hi-lo-1)))
}

// FenceStep is the number of index keys per fence key.
const FenceStep = 32

// A Fence is a sample of a large index kept in memory: the first 8 bytes of
// every FenceStep-th key. A search of a mapped index of a million keys
// probes cold pages (a TLB miss and a cache miss each); through its fence
// it looks in memory first and then probes one run of FenceStep keys with
// exact bounds, usually one or two cache lines of one page.
type Fence struct {
	n    int
	keys []uint64
}

// NewFence samples the n sorted keys of key (see Search).
func NewFence(n int, key func(i int) ([]byte, error)) (*Fence, error) {
	samples := make([]uint64, 0, (n+FenceStep-1)/FenceStep)
	for i := 0; i < n; i += FenceStep {
		k, err := key(i)
		if err != nil {
			return nil, err
		}
		samples = append(samples, binary.BigEndian.Uint64(k[:8]))
	}
	return FenceOf(n, samples), nil
}

// FenceOf is the fence of an index of n sorted keys whose samples (the
// first 8 bytes of keys 0, FenceStep, 2·FenceStep…) the caller took in a
// pass of its own over the index; nil if there are not as many as that.
func FenceOf(n int, samples []uint64) *Fence {
	if len(samples) != (n+FenceStep-1)/FenceStep {
		return nil
	}
	return &Fence{n: n, keys: samples}
}

// Len is the number of keys of the index the fence samples.
func (f *Fence) Len() int { return f.n }

// Search is Search of the index the fence samples.
func (f *Fence) Search(target []byte, key func(i int) ([]byte, error)) (int, bool, error) {
	t := binary.BigEndian.Uint64(target[:8])
	j := lowerBound(f.keys, t) // the first sampled key not below t
	lo, klo := 0, uint64(0)
	if j > 0 { // keys before sample j-1 are below it, hence below t
		lo, klo = (j-1)*FenceStep, f.keys[j-1]
	}
	hi, khi := f.n, uint64(math.MaxUint64)
	// Keys from the first sample above t on are above t. Samples equal to
	// t (a shared 8-byte prefix: rare, or a hostile index) are passed over,
	// a few at most: beyond that the search takes the rest of the index.
	for k := j; k < len(f.keys) && k < j+4; k++ {
		if f.keys[k] > t {
			hi, khi = k*FenceStep, f.keys[k]
			break
		}
	}
	return searchRange(lo, hi, klo, khi, target, key)
}

// lowerBound returns the first position in sorted ks whose value is not
// below t (len(ks) if none), interpolating first as Search does.
func lowerBound(ks []uint64, t uint64) int {
	lo, hi := 0, len(ks)
	klo, khi := uint64(0), uint64(math.MaxUint64)
	for probe := 0; lo < hi; probe++ {
		mid := lo + (hi-lo)/2
		if probe < 8 {
			mid = guess(lo, hi, klo, khi, t, mid)
		}
		if ks[mid] < t {
			lo, klo = mid+1, ks[mid]
		} else {
			hi, khi = mid, ks[mid]
		}
	}
	return lo
}
