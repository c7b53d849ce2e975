package remote

import (
	"sync"
	"time"
)

// breaker stops asking a remote that keeps failing: after failLimit
// failures in a row (a slow answer counts as one) it opens for a backoff
// that doubles up to maxBackoff, then lets one request through to see
// whether the remote is back. A definite answer that nothing will work
// for now (no bucket, credentials refused) opens it at once for
// maxBackoff (hold).
//
// Only a success closes it for good (and resets the backoff). An answer
// that is neither success nor failure — a 404 of a HEAD, an "exists" of a
// create-only put — proves the remote is there, so a probe that gets one
// lets requests go again, but it is not progress: the failure count and
// the backoff stay, and the next failure opens the breaker again with the
// backoff doubled. So a loop whose HEADs answer 404 and whose PUTs fail
// slows down instead of going on at full speed.
type breaker struct {
	mu      sync.Mutex
	now     func() time.Time
	fails   int  // failures since the last success
	opened  bool // requests are held back until until (but for one probe)
	until   time.Time
	backoff time.Duration
	probing bool
	down    bool // opened since the last success: said once, cleared by a success
}

const (
	failLimit  = 3
	minBackoff = time.Second
	maxBackoff = time.Minute
	// minRetry is the shortest pause between a failure and the next
	// attempt of a background loop (publishing), so none spins.
	minRetry = 100 * time.Millisecond
)

func (b *breaker) init(now func() time.Time) { b.now = now }

// allow reports whether a request may go out.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.opened {
		return true
	}
	if b.now().Before(b.until) || b.probing {
		return false
	}
	b.probing = true // one request finds out
	return true
}

// fail records a failure (or a slow answer) and reports whether the remote
// just went down (the breaker opened for the first time since the last
// success).
func (b *breaker) fail() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails++
	b.probing = false
	if !b.opened && b.fails < failLimit {
		return false
	}
	b.openLocked(min(max(2*b.backoff, minBackoff), maxBackoff))
	return b.markDown()
}

// hold opens the breaker at once for maxBackoff: the remote said nothing
// will work for now (no bucket, credentials refused). It reports whether
// the remote just went down.
func (b *breaker) hold() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails = max(b.fails, failLimit)
	b.probing = false
	b.openLocked(maxBackoff)
	return b.markDown()
}

func (b *breaker) openLocked(d time.Duration) {
	b.opened, b.backoff = true, d
	b.until = b.now().Add(d)
}

func (b *breaker) markDown() bool {
	was := b.down
	b.down = true
	return !was
}

// succeed records a success and reports whether the remote was down.
func (b *breaker) succeed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	was := b.down
	b.fails, b.backoff, b.probing, b.opened, b.down = 0, 0, false, false, false
	return was
}

// answered records an answer that is neither success nor failure (a 404,
// an "exists", a refusal of one key): requests may go again, but the
// failures and the backoff stay.
func (b *breaker) answered() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if b.opened {
		b.opened = false
		b.fails = failLimit - 1 // the next failure opens it again, for twice as long
	}
}

// release gives up a probe that ended without an answer (its caller gave
// up), so the next request may probe.
func (b *breaker) release() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// probeNow ends the breaker's wait: the next request finds out whether
// the remote is back (Close does this: it is the last chance to publish).
func (b *breaker) probeNow() {
	b.mu.Lock()
	if b.opened {
		b.until = b.now()
	}
	b.mu.Unlock()
}

// retryIn returns how long until the breaker lets a request through, and
// at least minRetry, so that a failing loop never spins.
func (b *breaker) retryIn() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := time.Duration(0)
	if b.opened {
		d = b.until.Sub(b.now())
	}
	return max(d, minRetry)
}

// open reports whether requests are being held back.
func (b *breaker) open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opened && b.now().Before(b.until)
}
