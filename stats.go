package pcache

import (
	"github.com/pcache/pcache/internal/engine"
	"github.com/pcache/pcache/internal/remote"
)

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

// statsOf makes the Stats of counts n (a Func's, or the Store's) and the
// remote tier's r.
func statsOf(n engine.Counts, r remote.Stats) Stats {
	return Stats{
		Hits: n[engine.StatHits], Misses: n[engine.StatMisses], Computes: n[engine.StatComputes],
		Stores: n[engine.StatStores], Waits: n[engine.StatWaits], Corrupt: n[engine.StatCorrupt],
		Errors: n[engine.StatErrors], StoreErrors: n[engine.StatStoreErrors], Mismatches: n[engine.StatMismatches],
		RemoteHits: n[engine.StatRemoteHits], RemoteErrors: r.Errors, RemoteSkipped: r.Skipped,
		Uploads: r.Uploads, UploadsDropped: r.UploadsDropped, RemoteTooLarge: r.TooLarge, ForeignOutbox: r.ForeignOutbox,
	}
}

// fnStats returns the counters of function c's calls (the Stats of a Func
// or BatchFunc: one body, not one per result type).
func fnStats(c *engine.Fn) Stats { return statsOf(c.Counts(), remote.Stats{}) }

// Stats returns the counters of every call made through this Store.
func (s *Store) Stats() Stats { return statsOf(s.e.Counts()) }
