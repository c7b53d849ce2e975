//go:build unix

package engine

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/pcache/pcache/internal/layout"
)

// writable reports whether this process can write the cache directory and
// the subdirectories it writes into (access(2), which also sees read-only
// mounts).
func writable(d layout.Dir) bool {
	for _, p := range []string{d.Root(), d.Objects(), d.Manifests(), d.Tmp(), d.Locks()} {
		if _, err := os.Stat(p); err != nil {
			continue // created on demand, in a directory checked already
		}
		if unix.Access(p, unix.W_OK|unix.X_OK) != nil {
			return false
		}
	}
	return true
}
