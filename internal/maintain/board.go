package maintain

import (
	"sync"

	"github.com/pcache/pcache/internal/board"
	"github.com/pcache/pcache/internal/manifest"
)

// changeBoard is the cache's change board, mapped on the first write and
// unmapped once neither the Cache nor a manifest it opened holds it (the
// board's own cleanup: a cleanup on the Cache could unmap it under a
// manifest still writing, as one did under pcache-fsck rm).
type changeBoard struct {
	once sync.Once
	b    *board.Board
}

// ManifestOptions are the manifest options of every write maintenance makes:
// with the cache's change board, so a process that has the function open
// sees a removal (rm, gc, repair) on its next call instead of serving what
// was removed from its in-memory view.
func (c *Cache) ManifestOptions() manifest.Options {
	c.board.once.Do(func() { c.board.b = board.Open(c.d.Board(), true) })
	return manifest.Options{Board: c.board.b}
}
