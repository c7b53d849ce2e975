package manifest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"runtime/debug"
	"sync"

	"github.com/pcache/pcache/internal/hashsearch"
	"github.com/pcache/pcache/internal/manifest/record"
)

// A segment's Bloom filter lets a Lookup skip the segment's index search
// when the key is certainly not there: a manifest of a million entries has
// several segments after size-tiered compaction, and searching each one's
// multi-megabyte index touches several cold cache lines. The filter lives
// only in memory (the file format is unchanged); it is built in the
// background once the segment has answered bloomAfter lookups, and until
// it is ready, lookups search the index as before.
//
// It is a blocked Bloom filter: each key sets bloomK bits within one 64-byte
// block (one cache line), so a query reads one line. Keys are BLAKE3 hashes,
// so their bytes are used directly: bytes 0..7 choose the block, bytes 8..15
// the bits.

const (
	// bloomMinCount: segments with fewer entries get no filter (their index
	// is small and stays in cache).
	bloomMinCount = 4096
	bloomBitsPer  = 10 // bits per key
	bloomK        = 7  // bits set per key, each chosen by 9 bits of the key
	bloomChunk    = 1024
)

// bloom is an immutable (once published) blocked Bloom filter, with the
// fence of the segment's index (package hashsearch), built in the same pass:
// a key the filter lets through is searched from memory first, not by
// probing cold pages of a multi-megabyte index.
type bloom struct {
	blocks [][8]uint64
	fence  *hashsearch.Fence
}

// pick returns the block index for key h and the key's bit selector.
func (f *bloom) pick(h []byte) (blk uint64, sel uint64) {
	hi, _ := bits.Mul64(binary.BigEndian.Uint64(h[0:8]), uint64(len(f.blocks)))
	return hi, binary.LittleEndian.Uint64(h[8:16])
}

func (f *bloom) add(h []byte) {
	blk, sel := f.pick(h)
	b := &f.blocks[blk]
	for range bloomK {
		bit := sel & 511
		b[bit>>6] |= 1 << (bit & 63)
		sel >>= 9
	}
}

// mayContain reports false only when h was never added.
func (f *bloom) mayContain(h *record.KeyHash) bool {
	blk, sel := f.pick(h[:])
	b := &f.blocks[blk]
	for range bloomK {
		bit := sel & 511
		if b[bit>>6]&(1<<(bit&63)) == 0 {
			return false
		}
		sel >>= 9
	}
	return true
}

// bloomAfter is the number of lookups a segment answers by searching its
// index before its filter is built: a process that looks up a few keys
// (one hit, say) never pays for reading every index it opened, and its
// Close waits for no builder.
const bloomAfter = 64

// counted counts one lookup of the segment without a filter, and starts
// the filter's build (startFilter) at the bloomAfter-th, if the view that
// holds the segment allowed one (s.builders). Once the build started (and
// for segments too small for a filter) it counts nothing: no write to a
// shared counter on every hit.
func (s *segment) counted() {
	if s.builders != nil && s.count >= bloomMinCount && !s.filterStarted.Load() && s.lookups.Add(1) == bloomAfter {
		s.startFilter(s.builders)
	}
}

// startFilter starts building the segment's filter in a background
// goroutine (counted by wg) if the segment is large enough, and returns
// whether it did (once per segment). The goroutine holds a reference to
// the segment, so the mapping stays valid while it reads; it gives up as
// soon as it holds the only reference (the segment was dropped from the
// view), so a release or Close is not delayed by a whole build.
func (s *segment) startFilter(wg *sync.WaitGroup) bool {
	if s.count < bloomMinCount || !s.filterStarted.CompareAndSwap(false, true) {
		return false
	}
	s.acquire()
	wg.Go(func() {
		defer s.release()
		if f, err := s.buildFilter(); err == nil && f != nil {
			s.filter.Store(f)
		}
	})
	return true
}

// errFilterAbandoned: the build stopped because nobody else uses the segment.
var errFilterAbandoned = errors.New("filter build abandoned")

// buildFilter scans the index and returns the filter, nil if abandoned. A
// fault on the mapping (a file truncated in place) is an error: no filter,
// so lookups keep searching the index (and report the damage themselves).
func (s *segment) buildFilter() (f *bloom, err error) {
	if s.unmap != nil {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if p := recover(); p != nil {
				if _, ok := p.(interface{ Addr() uintptr }); !ok {
					panic(p)
				}
				f, err = nil, fmt.Errorf("manifest: segment %s: %w: memory fault building filter", s.path, errBadSegment)
			}
		}()
	}
	var samples []uint64 // the fence's, taken in the same pass
	for lo := 0; lo < s.count; lo += bloomChunk {
		if s.refs.Load() <= 1 {
			return nil, errFilterAbandoned
		}
		if f == nil { // allocated only once the segment is still wanted
			f = &bloom{blocks: make([][8]uint64, (s.count*bloomBitsPer+511)/512)}
		}
		hi := min(lo+bloomChunk, s.count)
		var idx []byte
		if s.index != nil {
			idx = s.index[lo*indexEntrySize : hi*indexEntrySize]
		} else if idx, err = s.read(s.indexStart+int64(lo)*indexEntrySize, int64(hi-lo)*indexEntrySize); err != nil {
			return nil, err
		}
		for i := lo; len(idx) >= indexEntrySize; i, idx = i+1, idx[indexEntrySize:] {
			f.add(idx[:32])
			if i%hashsearch.FenceStep == 0 {
				samples = append(samples, binary.BigEndian.Uint64(idx[:8]))
			}
		}
	}
	if f != nil {
		f.fence = hashsearch.FenceOf(s.count, samples)
	}
	return f, nil
}
