//go:build unix

package outfile

import (
	"os"

	"github.com/pcache/pcache/internal/fsutil"
)

// openNoFollow opens path read-only, non-blocking (a fifo cannot stall the
// open) and failing if its final component is a symbolic link.
func openNoFollow(path string) (*os.File, error) {
	return fsutil.OpenNoFollow(path, os.O_RDONLY, 0)
}

// prepareReplace readies target to be replaced by a rename; unix needs
// nothing.
func prepareReplace(target string) {}
