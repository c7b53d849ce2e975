package pcache

import (
	"time"
)

// MaxSize keeps the cache under bytes: at most once a day (across every
// process using the cache), Open starts a trim in the background that
// evicts the least recently used entries until the objects the rest use
// fit (pcache-fsck gc -max-size, run for you). Off by default.
func MaxSize(bytes int64) StoreOption {
	return func(o *storeOptions) { o.eng.MaxSize = max(bytes, 0) }
}

// MaxAge evicts entries unused for longer than d, in the same daily
// background trim as MaxSize (pcache-fsck gc -older-than). Off by default.
func MaxAge(d time.Duration) StoreOption {
	return func(o *storeOptions) { o.eng.MaxAge = max(d, 0) }
}
