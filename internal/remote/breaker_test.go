package remote

import (
	"testing"
	"time"
)

// TestBreakerAnswersAreNotProgress (issue 22, item 2): a 404 or an
// "exists" is an answer — a probe that gets one lets requests go again —
// but not progress: failures between such answers still open the
// breaker, and each reopening doubles the wait (up to maxBackoff) until a
// real success. A hold (no bucket, refused credentials) opens it at once
// for maxBackoff.
func TestBreakerAnswersAreNotProgress(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	var b breaker
	b.init(func() time.Time { return now })
	// HEAD 404, PUT fails, over and over: the loop of a publisher whose
	// every upload fails.
	for i := range failLimit {
		b.answered()
		if down := b.fail(); down != (i == failLimit-1) {
			t.Fatalf("failure %d: down %v", i+1, down)
		}
	}
	if b.allow() {
		t.Fatal("404s in between kept the breaker closed")
	}
	wait := minBackoff
	for range 8 {
		now = now.Add(wait)
		if !b.allow() {
			t.Fatalf("no probe after %v", wait)
		}
		b.answered() // the probe's HEAD: 404
		if !b.allow() {
			t.Fatal("an answer did not let requests go")
		}
		if b.fail() { // the PUT fails: open again, for twice as long
			t.Fatal("said down twice")
		}
		wait = min(2*wait, maxBackoff)
		now = now.Add(wait - time.Millisecond)
		if b.allow() {
			t.Fatalf("the wait did not grow to %v", wait)
		}
		now = now.Add(time.Millisecond)
	}
	if wait != maxBackoff {
		t.Fatalf("backoff %v after 8 rounds, want the cap %v", wait, maxBackoff)
	}
	if !b.allow() || !b.succeed() {
		t.Fatal("a success after the outage did not say the remote is back")
	}
	if b.fail() || b.fail() || !b.allow() {
		t.Fatal("the backoff and count did not reset on success")
	}

	var h breaker
	h.init(func() time.Time { return now })
	if !h.hold() || h.allow() {
		t.Fatal("a hold did not open the breaker at once")
	}
	if h.retryIn() != maxBackoff {
		t.Fatalf("a hold waits %v, want %v", h.retryIn(), maxBackoff)
	}
	h.probeNow()
	if !h.allow() || h.allow() {
		t.Fatal("probeNow (Close) did not let exactly one request through")
	}
}
