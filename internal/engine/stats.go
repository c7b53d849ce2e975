package engine

import (
	"sync/atomic"

	"github.com/pcache/pcache/internal/remote"
)

// Stat is one kind of event pcache.Stats counts.
type Stat int

// The kinds of events, in the order of Counts.

const (
	StatHits Stat = iota
	StatMisses
	StatComputes
	StatStores
	StatWaits
	StatCorrupt
	StatErrors
	StatStoreErrors
	StatRemoteHits
	StatMismatches
	NumStats
)

// Counts are counted events, indexed by Stat.
type Counts [NumStats]int64

type counters [NumStats]atomic.Int64

func (c *counters) snapshot() Counts {
	var n Counts
	for i := range c {
		n[i] = c[i].Load()
	}
	return n
}

// Counts returns the counts of every call made through this Engine, and
// the remote tier's (zero without a remote).
func (s *Engine) Counts() (Counts, remote.Stats) {
	var r remote.Stats
	if s.remote != nil {
		r = s.remote.Stats()
	}
	return s.stats.snapshot(), r
}

// Counts returns the counts of this function's calls.
func (c *Fn) Counts() Counts { return c.stats.snapshot() }

// add counts n events of kind k for one function and its Store.
func (c *Fn) add(k Stat, n int64) {
	c.stats[k].Add(n)
	c.e.stats[k].Add(n)
}

// Count counts one event of kind k.
func (c *Fn) Count(k Stat) { c.add(k, 1) }

// CountN counts n events of kind k (a batch's, added once).
func (c *Fn) CountN(k Stat, n int64) {
	if n != 0 {
		c.add(k, n)
	}
}
