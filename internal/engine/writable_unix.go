//go:build unix

package engine

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/pcache/pcache/internal/layout"
)

// writable reports whether this process can write the cache directory and
// the subdirectories it writes into (access(2), which also sees read-only
// mounts). One access each: a subdirectory that does not exist (ENOENT)
// is created on demand, in a directory checked already.
func writable(d layout.Dir) bool {
	for _, p := range []string{d.Root(), d.Objects(), d.Manifests(), d.Tmp(), d.Locks()} {
		err := unix.Access(p, unix.W_OK|unix.X_OK)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return false
		}
	}
	return true
}
