package pcache

import "sync"

// flight is one in-process computation of a key; goroutines that miss the same
// key while it runs wait for it instead of computing again.
type flight struct {
	done chan struct{}
	err  error // set before done is closed
}

// flights deduplicates concurrent computations of one function's keys.
type flights struct {
	mu sync.Mutex
	m  map[[32]byte]*flight
}

// join returns the running flight of key, or starts one and reports leader ==
// true; the leader must call land exactly once.
func (g *flights) join(key [32]byte) (f *flight, leader bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		return f, false
	}
	if g.m == nil {
		g.m = map[[32]byte]*flight{}
	}
	f = &flight{done: make(chan struct{})}
	g.m[key] = f
	return f, true
}

// land ends the leader's flight with err and wakes its waiters.
func (g *flights) land(key [32]byte, f *flight, err error) {
	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	f.err = err
	close(f.done)
}
