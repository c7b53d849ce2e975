//go:build !unix

package engine

import (
	"os"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
)

// writable reports whether this process can create a file in the cache
// directory.
func writable(d layout.Dir) bool {
	f, err := fsutil.CreateTemp(d.Root(), ".pcache-probe-", 0o600)
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}
