package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Flight is one in-process computation of a key: goroutines that miss the
// same key while it runs wait for it instead of computing again.
type Flight struct {
	done      chan struct{}
	committed bool  // the leader's result (or another process's) is in the manifest
	err       error // the function's error, shared with the waiters; nil otherwise
	waiters   atomic.Int32
}

// flights deduplicates concurrent computations of one function's keys.
type flights struct {
	mu sync.Mutex
	m  map[[32]byte]*Flight
}

// join returns the running Flight of key, or starts one and reports leader
// == true; the leader must land it exactly once (a deferred land covers
// panics).
func (g *flights) join(key [32]byte) (f *Flight, leader bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		f.waiters.Add(1)
		return f, false
	}
	if g.m == nil {
		g.m = map[[32]byte]*Flight{}
	}
	f = &Flight{done: make(chan struct{})}
	g.m[key] = f
	return f, true
}

// land ends the leader's Flight and wakes its waiters.
func (g *flights) land(key [32]byte, f *Flight, committed bool, err error) {
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	f.committed, f.err = committed, err
	close(f.done)
}

// Wait waits for a flight's leader. A waiter whose context ends stops
// waiting at once.
func (f *Flight) Wait(ctx context.Context) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Err is the error the flight's leader landed it with: the function's,
// shared with the waiters; nil otherwise.
func (f *Flight) Err() error { return f.err }

// Join returns the running flight of key k in this process, or starts one
// and reports leader == true; the leader must Land it exactly once (a
// deferred Land covers panics).
func (c *Fn) Join(k *CallKey) (f *Flight, leader bool) { return c.flights.join(k.Hash) }

// Land ends the leader's flight of k and wakes its waiters: committed
// says the result is in the manifest, err is the function's error.
func (c *Fn) Land(k *CallKey, f *Flight, committed bool, err error) {
	c.flights.land(k.Hash, f, committed, err)
}

// IsContextErr reports whether err is a context's cancellation or
// deadline.
func IsContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Waiters returns how many calls wait for the running computation of k in
// this process (tests watch it to know a waiter is in place).
func (c *Fn) Waiters(k *CallKey) int {
	c.flights.mu.Lock()
	defer c.flights.mu.Unlock()
	if fl := c.flights.m[k.Hash]; fl != nil {
		return int(fl.waiters.Load())
	}
	return 0
}
