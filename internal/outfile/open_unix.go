//go:build unix

package outfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// openNoFollow opens path read-only, non-blocking (a fifo cannot stall the
// open) and failing if its final component is a symbolic link.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
}

// prepareReplace readies target to be replaced by a rename; unix needs
// nothing.
func prepareReplace(target string) {}
