package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pcache/pcache/internal/layout"
)

// The gc turnstile keeps garbage collection away from writes in flight:
// writers hold locks/gc.lock shared from storing an object to committing the
// entries that reference it; gc holds it exclusive. So a steady stream of
// writers cannot starve gc, a writer passes through locks/gc.intent (shared,
// for an instant) before taking gc.lock, and gc holds gc.intent exclusive
// while it waits for gc.lock, which stops new writers at the door.
//
// A process does not lock and unlock per commit: its first writer takes the
// shared hold and the process keeps it while writes continue, for at most
// MaxHold; then the next moment no write is in flight it lets go, and the
// next writer passes the turnstile again. A hold no writer has used for
// IdleHold is let go too. So gc waits at most MaxHold plus one commit
// beside a busy writer and IdleHold beside an idle one, and a run of
// commits costs no lock system calls.

// MaxHold bounds how long a process keeps its shared hold of the gc lock
// across commits before passing the turnstile again.
const MaxHold = 250 * time.Millisecond

// IdleHold is how long a process keeps its shared hold after its last
// writer left: long enough that commits in a burst share one hold, short
// enough that pcache-fsck check or gc beside a process that stopped
// writing does not wait for MaxHold.
const IdleHold = 20 * time.Millisecond

// Turnstile is a process's shared side of the gc lock of one cache. Its
// methods are safe for concurrent use.
type Turnstile struct {
	intent, lock string

	mu        sync.Mutex
	active    int           // writers inside
	held      *Held         // the shared hold of gc.lock, while taken
	draining  bool          // the hold is past MaxHold: no new writers until it is let go
	drained   chan struct{} // closed when a draining hold is let go
	acquiring chan struct{} // non-nil while one goroutine takes the hold; closed when done
	timer     *time.Timer   // MaxHold after the hold was taken
	idle      *time.Timer   // IdleHold after the last writer left (kept for reuse)
	lastLeave time.Time     // when the last writer left
	maxHold   time.Duration // MaxHold (tests make it longer)
	gen       uint64        // incremented on every new hold: a writer's view may be stale across holds
	wait      time.Duration // limit of one wait for the turnstile (GCWait unless SetWait)
	stuck     time.Time     // until then, a wait ran out recently: only try, never wait
}

// SetWait sets how long Enter waits for the gc lock before it fails with a
// *TimeoutError (default GCWait). After a wait runs out, Enters during the
// next such period only try the lock, so a lock held forever costs one
// writer the wait and the others nothing.
func (t *Turnstile) SetWait(d time.Duration) {
	t.mu.Lock()
	t.wait = d
	t.mu.Unlock()
}

// NewTurnstile returns the turnstile of the cache at d. It takes no lock yet.
func NewTurnstile(d layout.Dir) *Turnstile {
	return &Turnstile{intent: d.GCIntent(), lock: d.GCLock(), wait: GCWait, maxHold: MaxHold}
}

// Enter lets a writer in, taking the shared hold if the process has none.
// gen numbers the hold the writer is inside: a writer that sees it change
// knows gc may have run since its last write. Every successful Enter must be
// paired with one Leave.
func (t *Turnstile) Enter(ctx context.Context) (gen uint64, err error) {
	for {
		t.mu.Lock()
		switch {
		case t.held != nil && !t.draining:
			t.active++
			gen := t.gen
			t.mu.Unlock()
			return gen, nil
		case t.draining:
			ch := t.drained
			t.mu.Unlock()
			if err := wait(ctx, ch); err != nil {
				return 0, err
			}
			continue
		case t.acquiring != nil:
			ch := t.acquiring
			t.mu.Unlock()
			if err := wait(ctx, ch); err != nil {
				return 0, err
			}
			continue
		}
		ch := make(chan struct{})
		t.acquiring = ch
		t.mu.Unlock()

		h, err := t.take(ctx)

		t.mu.Lock()
		t.acquiring = nil
		close(ch)
		if err != nil {
			t.mu.Unlock()
			return 0, err
		}
		t.held, t.active = h, t.active+1
		t.gen++
		gen := t.gen
		t.timer = time.AfterFunc(t.maxHold, t.expire)
		t.mu.Unlock()
		return gen, nil
	}
}

// take passes the turnstile: gc.intent shared for an instant, then gc.lock
// shared.
func (t *Turnstile) take(ctx context.Context) (*Held, error) {
	t.mu.Lock()
	limit, tryOnly := t.wait, time.Now().Before(t.stuck)
	t.mu.Unlock()
	acquire := func(path string) (*Held, error) {
		if tryOnly {
			return TryOrBusy(path, Shared)
		}
		h, err := AcquireWithin(ctx, path, Shared, limit)
		if errors.Is(err, ErrTimeout) {
			t.mu.Lock()
			t.stuck = time.Now().Add(limit)
			t.mu.Unlock()
		}
		return h, err
	}
	in, err := acquire(t.intent)
	if err != nil {
		return nil, fmt.Errorf("gc turnstile: %w", err)
	}
	h, err := acquire(t.lock)
	in.Release()
	if err != nil {
		return nil, fmt.Errorf("gc lock: %w", err)
	}
	return h, nil
}

// Leave lets a writer out.
func (t *Turnstile) Leave() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.active == 0 {
		return
	}
	t.active--
	switch {
	case t.active > 0:
	case t.draining:
		t.letGoLocked()
	default:
		t.lastLeave = time.Now()
		if t.idle == nil {
			t.idle = time.AfterFunc(IdleHold, t.expireIdle)
		} else {
			t.idle.Reset(IdleHold)
		}
	}
}

// expireIdle runs IdleHold after a writer left: it lets go of the hold if
// no writer has been inside since.
func (t *Turnstile) expireIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held == nil || t.active > 0 || t.draining {
		return
	}
	if since := time.Since(t.lastLeave); since < IdleHold {
		t.idle.Reset(IdleHold - since) // a later writer left: its own idle time
		return
	}
	t.letGoLocked()
}

// expire runs maxHold after the hold was taken.
func (t *Turnstile) expire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held == nil || t.draining {
		return
	}
	if t.active == 0 {
		t.letGoLocked()
		return
	}
	t.draining = true
	t.drained = make(chan struct{})
}

func (t *Turnstile) letGoLocked() {
	t.held.Release()
	t.held = nil
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	if t.idle != nil {
		t.idle.Stop()
	}
	if t.draining {
		t.draining = false
		close(t.drained)
	}
}

// Close lets go of the hold once no writer is inside (a writer still inside
// keeps it until its Leave).
func (t *Turnstile) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held == nil {
		return
	}
	if t.active == 0 {
		t.letGoLocked()
		return
	}
	if !t.draining {
		t.draining = true
		t.drained = make(chan struct{})
	}
}

// GC takes the gc lock exclusively for maintenance, waiting for writers in
// flight to commit and keeping new ones out, and returns its release.
func GC(ctx context.Context, d layout.Dir) (release func(), err error) {
	in, err := Acquire(ctx, d.GCIntent(), Exclusive)
	if err != nil {
		return nil, fmt.Errorf("gc turnstile: %w", err)
	}
	h, err := Acquire(ctx, d.GCLock(), Exclusive)
	if err != nil {
		in.Release()
		return nil, fmt.Errorf("gc lock: %w", err)
	}
	return func() { h.Release(); in.Release() }, nil
}

func wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gc turnstile: %w", ctx.Err())
	}
}
