package pcache

import "sync/atomic"

// Stats counts what calls did. Store.Stats covers every function of a Store;
// Func.Stats and BatchFunc.Stats one function. Each call (or batch element)
// counts as exactly one of Hits and Misses.
type Stats struct {
	Hits        int64 // calls (or batch elements) served from the cache
	Misses      int64 // calls (or batch elements) that found no usable entry
	Computes    int64 // calls of the wrapped function (a batch call counts once)
	Stores      int64 // entries written
	Waits       int64 // misses served by waiting for another goroutine or process computing the same key
	Corrupt     int64 // entries found unusable (object missing or corrupt, result not decodable), then recomputed
	Errors      int64 // calls of the wrapped function that failed (their results are not cached)
	StoreErrors int64 // computed results that could not be stored (returned all the same)
	Mismatches  int64 // hits that ModeVerify recomputed to a different result (ErrVerifyMismatch; Memo logs them)

	// The remote tier (see Remote). RemoteHits are counted in Hits too. The
	// others are the Store's alone: a Func's Stats leaves them zero.
	RemoteHits     int64 // local misses served from the remote
	RemoteErrors   int64 // remote requests that failed or were refused (the calls went on locally)
	RemoteSkipped  int64 // remote requests not made: the remote had failed just before (its circuit breaker was open)
	Uploads        int64 // entries published to the remote (records of uses are not counted)
	UploadsDropped int64 // entries not published: their objects were gone locally, or the remote refused them for good
	RemoteTooLarge int64 // remote entries not fetched: an object larger than the remote's size bound (computed instead)
	ForeignOutbox  int64 // outbox files another user wrote, left alone (never published with this user's credentials)
}

type stat int

const (
	statHits stat = iota
	statMisses
	statComputes
	statStores
	statWaits
	statCorrupt
	statErrors
	statStoreErrors
	statRemoteHits
	statMismatches
	numStats
)

type counters [numStats]atomic.Int64

func (c *counters) snapshot() Stats {
	return Stats{
		Hits: c[statHits].Load(), Misses: c[statMisses].Load(), Computes: c[statComputes].Load(),
		Stores: c[statStores].Load(), Waits: c[statWaits].Load(), Corrupt: c[statCorrupt].Load(),
		Errors: c[statErrors].Load(), StoreErrors: c[statStoreErrors].Load(), RemoteHits: c[statRemoteHits].Load(),
		Mismatches: c[statMismatches].Load(),
	}
}

// Stats returns the counters of every call made through this Store.
func (s *Store) Stats() Stats {
	st := s.stats.snapshot()
	if s.remote != nil {
		r := s.remote.Stats()
		st.RemoteErrors, st.RemoteSkipped, st.Uploads, st.UploadsDropped = r.Errors, r.Skipped, r.Uploads, r.UploadsDropped
		st.RemoteTooLarge, st.ForeignOutbox = r.TooLarge, r.ForeignOutbox
	}
	return st
}
