package remote

import (
	"io/fs"
	"os"

	"github.com/pcache/pcache/internal/fsutil"
)

// openRegular opens path for reading the way every file of the remote
// tier's local state is opened (outbox files, a mirror's state, the
// remote's state), as every cache file is (fsutil.OpenRegular: no link
// followed, no FIFO waited on, the descriptor checked regular), and
// refuses one larger than limit bytes or sparse: a hostile cache
// directory cannot point pcache at /dev/zero, at a fifo that never
// answers, or at a file outside the cache.
func openRegular(path string, limit int64) (*os.File, fs.FileInfo, error) {
	f, fi, err := fsutil.OpenRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := fsutil.CheckSize(path, fi, limit); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}
