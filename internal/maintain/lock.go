package maintain

import (
	"context"
	"time"

	"github.com/pcache/pcache/internal/lock"
)

// lockWaitNotice is how long maintenance waits for the gc lock before it
// says what it is waiting for.
const lockWaitNotice = 2 * time.Second

// lockGC takes the cache's gc lock exclusively: writers in flight finish
// first, new ones wait. waiting, if set, is called if that takes a while.
func (c *Cache) lockGC(ctx context.Context, waiting func()) (func(), error) {
	if waiting != nil {
		t := time.AfterFunc(lockWaitNotice, waiting)
		defer t.Stop()
	}
	return lock.GC(ctx, c.d)
}

// Enter passes the gc turnstile as a writer (import, rm): a concurrent gc
// sees all of the write or none of it.
func (c *Cache) Enter(ctx context.Context) (func(), error) {
	t := lock.NewTurnstile(c.d)
	if _, err := t.Enter(ctx); err != nil {
		return nil, err
	}
	return func() { t.Leave(); t.Close() }, nil
}
