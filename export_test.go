package pcache

import "time"

// WithClock sets the Store's clock (tests only).
func WithClock(now func() time.Time) StoreOption {
	return func(o *storeOptions) { o.now = now }
}
