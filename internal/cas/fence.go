package cas

import (
	"errors"
	"runtime/debug"

	"github.com/pcache/pcache/internal/hashsearch"
)

// A large pack's index is searched through a fence (package hashsearch),
// built in the background once the pack has answered fenceAfter finds: a
// find in a pack of a million objects then reads memory and one run of its
// mapped index, not several cold pages. A process that finds a few objects
// (one hit) never reads a whole index, and nothing on disk changes.
const (
	fenceMinCount = 4096 // smaller indexes stay in cache: no fence
	fenceAfter    = 64
)

// search finds id in the pack's index.
func (p *pack) search(ps *packSet, id *ID) (off int64, size uint32, ok bool) {
	if f := p.fence.Load(); f != nil {
		i, found, _ := f.Search(id[:], p.indexKey)
		if !found {
			return 0, 0, false
		}
		return entryAt(p.idx, i)
	}
	if len(p.idx) >= fenceMinCount*idxEntrySize && !p.fenceStarted.Load() && p.finds.Add(1) == fenceAfter {
		p.startFence(ps)
	}
	return searchIndex(p.idx, id)
}

// startFence builds the fence in a goroutine that ps.close waits for
// (started under ps.mu, so before close can wait). The goroutine holds a
// reference, so the mapping stays valid; it does nothing if the set let go
// of the pack meanwhile.
func (p *pack) startFence(ps *packSet) {
	if !p.fenceStarted.CompareAndSwap(false, true) {
		return
	}
	p.acquire()
	ps.fences.Go(func() {
		defer p.release()
		if f := p.buildFence(); f != nil {
			p.fence.Store(f)
		}
	})
}

// buildFence samples the index; a fault on the mapping (the file truncated
// under us) gives no fence, so finds go on searching the index (and miss).
func (p *pack) buildFence() (f *hashsearch.Fence) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			f = nil
		}
	}()
	f, _ = hashsearch.NewFence(len(p.idx)/idxEntrySize, func(i int) ([]byte, error) {
		if i%(1<<14) == 0 && p.refs.Load() <= 1 {
			return nil, errFenceAbandoned // nobody else uses the pack
		}
		return p.indexKey(i)
	})
	return f
}

var errFenceAbandoned = errors.New("fence build abandoned")

// indexKey returns the ID of index entry i.
func (p *pack) indexKey(i int) ([]byte, error) {
	return p.idx[i*idxEntrySize : i*idxEntrySize+32], nil
}
