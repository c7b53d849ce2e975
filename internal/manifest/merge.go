package manifest

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"

	"github.com/pcache/pcache/internal/manifest/record"
)

// source is a stream of records in strictly increasing KeyHash order.
type source interface {
	next() (*rec, bool)
}

// sliceSource streams records held in memory, sorted by key.
type sliceSource struct {
	recs []*rec
}

func newSliceSource(m map[[32]byte]*rec) *sliceSource {
	recs := make([]*rec, 0, len(m))
	for _, r := range m {
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b *rec) int { return bytes.Compare(a.e.KeyHash[:], b.e.KeyHash[:]) })
	return &sliceSource{recs: recs}
}

func (s *sliceSource) next() (*rec, bool) {
	if len(s.recs) == 0 {
		return nil, false
	}
	r := s.recs[0]
	s.recs = s.recs[1:]
	return r, true
}

// segSource streams a segment's records through its index, skipping (and
// reporting) damaged records and index entries out of order. Records come
// lazy: checked (framing, checksum) but not decoded, since a merge needs to
// decode only keys found in more than one source. A caller reading a
// mapped segment runs under guardFaults.
type segSource struct {
	s      *segment
	i      int
	prev   []byte
	report func(Problem)
}

func (c *segSource) next() (*rec, bool) {
	for c.i < c.s.count {
		i := c.i
		c.i++
		key, _, err := c.s.entry(i)
		if err != nil {
			c.report(segProblem(c.s.path, 0, err))
			return nil, false // the index itself is unreadable
		}
		if c.prev != nil && bytes.Compare(key, c.prev) <= 0 {
			c.report(Problem{Path: c.s.path, Kind: KindBadSegment, Offset: c.s.indexStart + int64(i)*indexEntrySize, Detail: fmt.Sprintf("index entry %d is out of order; skipped", i)})
			continue
		}
		p, off, err := c.s.payloadAt(i)
		if err != nil {
			c.report(segProblem(c.s.path, off, err))
			continue
		}
		c.prev = key
		r := &rec{raw: p, lazy: c, off: off}
		r.e.KeyHash = [32]byte(key)
		return r, true
	}
	return nil, false
}

// load decodes a lazy record from this source; false (reported) if damaged.
func (c *segSource) load(r *rec) bool {
	var e record.Entry
	if err := decodeChecked(r.raw, r.e.KeyHash[:], r.off, &e); err != nil {
		c.report(segProblem(c.s.path, r.off, err))
		return false
	}
	r.e, r.lazy = e, nil
	return true
}

// segProblem classifies damage found in a segment.
func segProblem(path string, off int64, err error) Problem {
	kind := KindBadSegment
	switch {
	case errors.Is(err, errBadChecksum):
		kind = KindBadChecksum
	case errors.Is(err, record.ErrBad):
		kind = KindBadRecord
	}
	return Problem{Path: path, Kind: kind, Offset: off, Detail: err.Error()}
}

// guardFaults runs fn, turning a memory fault on a mapped segment (a file
// truncated in place under the mapping) into an error instead of a crash.
func guardFaults(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("manifest: %w: memory fault reading a segment (file truncated while in use?): %v", errBadSegment, p)
				return
			}
			panic(p)
		}
	}()
	return fn()
}

// merge calls fn with the winning record of every key found in srcs, in
// increasing key order. Tombstones are passed on too. A key found in one
// source only is passed on as it came (possibly lazy: see rec.load); the
// records of a key found in several are decoded to resolve it, and those
// that turn out damaged drop out.
func merge(srcs []source, fn func(*rec) error) error {
	h := make(mergeHeap, 0, len(srcs))
	for _, s := range srcs {
		if r, ok := s.next(); ok {
			h = append(h, mergeItem{r, s})
		}
	}
	heap.Init(&h)
	var group []*rec
	for len(h) > 0 {
		key := h[0].r.e.KeyHash
		group = group[:0]
		for len(h) > 0 && h[0].r.e.KeyHash == key {
			it := &h[0]
			group = append(group, it.r)
			if r, ok := it.src.next(); ok {
				it.r = r
				heap.Fix(&h, 0)
			} else {
				heap.Pop(&h)
			}
		}
		var best *rec
		if len(group) == 1 {
			best = group[0]
		} else {
			for _, r := range group {
				if r.load() && (best == nil || record.Newer(&r.e, &best.e)) {
					best = r
				}
			}
		}
		if best == nil {
			continue
		}
		if err := fn(best); err != nil {
			return err
		}
	}
	return nil
}

type mergeItem struct {
	r   *rec
	src source
}

type mergeHeap []mergeItem

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	return bytes.Compare(h[i].r.e.KeyHash[:], h[j].r.e.KeyHash[:]) < 0
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// Resolve returns the live entries among records of one function gathered
// from anywhere (the winner per key by the resolution rule; tombstoned keys
// and what a tombstone of many forgets left out), in increasing KeyHash
// order: what a compaction that replaces all of them keeps. The tombstones
// of many (record.IsForget) are kept, so that a record of what they forgot
// that arrives later (from a slow writer) stays forgotten.
func Resolve(entries []record.Entry) []record.Entry {
	best := map[[32]byte]*rec{}
	for i := range entries {
		mergeInto(best, &rec{e: entries[i]})
	}
	var forget, untyped int64
	byType := map[[32]byte]int64{}
	for _, r := range best {
		switch {
		case !record.IsForget(&r.e):
		case r.e.KeyHash == record.ForgetAll:
			forget = r.e.Time
		case r.e.KeyHash == record.ForgetUntyped:
			untyped = r.e.Time
		default:
			byType[r.e.Type] = r.e.Time
		}
	}
	src := newSliceSource(best)
	out := make([]record.Entry, 0, len(src.recs))
	for _, r := range src.recs {
		if record.IsForget(&r.e) {
			out = append(out, r.e)
			continue
		}
		cut := forget
		if r.e.Type == ([32]byte{}) {
			cut = max(cut, untyped)
		} else {
			cut = max(cut, byType[r.e.Type])
		}
		if r.e.Deleted || (cut != 0 && r.e.Time <= cut) {
			continue
		}
		out = append(out, r.e)
	}
	return out
}
