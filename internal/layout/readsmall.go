package layout

import (
	"errors"
	"fmt"

	"github.com/pcache/pcache/internal/fsutil"
)

// maxSmallFile bounds the marker and the README: a planted giant file is
// damage, never an allocation of its size.
const maxSmallFile = 64 << 10

// errPlanted marks a file of the cache's own that is a link, a FIFO or
// another special file, or far larger than pcache makes it.
var errPlanted = errors.New("not a file pcache makes")

// readSmall reads a small file of the cache's own (the marker, the
// README) the way every cache file is read (fsutil.ReadRegular: no link
// followed, no FIFO waited on, nothing larger than maxSmallFile read).
func readSmall(path string) ([]byte, error) {
	b, err := fsutil.ReadRegular(path, maxSmallFile)
	if errors.Is(err, fsutil.ErrNotRegular) || errors.Is(err, fsutil.ErrHollow) {
		return nil, fmt.Errorf("%w: %w", errPlanted, err)
	}
	return b, err
}
