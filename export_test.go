package pcache

import "time"

// WithClock sets the Store's clock (tests only).
func WithClock(now func() time.Time) StoreOption {
	return func(o *storeOptions) { o.now = now }
}

// Waiters returns how many calls wait for the running computation of args
// (tests only).
func Waiters[A, R any](f *Func[A, R], args A) int {
	k, err := f.c.key(args, false)
	if err != nil {
		return 0
	}
	f.c.flights.mu.Lock()
	defer f.c.flights.mu.Unlock()
	if fl := f.c.flights.m[k.hash]; fl != nil {
		return int(fl.waiters.Load())
	}
	return 0
}
