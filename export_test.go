package pcache

import "time"

// WithClock sets the Store's clock (tests only).
func WithClock(now func() time.Time) StoreOption {
	return func(o *storeOptions) { o.eng.Now = now }
}

// Waiters returns how many calls wait for the running computation of args
// (tests only).
func Waiters[A, R any](f *Func[A, R], args A) int {
	k, err := f.u.c.Key(args, false)
	if err != nil {
		return 0
	}
	return f.u.c.Waiters(&k)
}
