//go:build unix

package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
)

// sharedToolDir returns the directory Tool builds into for the checkout at
// root, <user cache dir>/pcache-test-tools/<hash of root>, locked against
// other test processes building there (the packages of one go test run go
// on at once); unlock releases it. ok is false when there is no usable
// cache directory: Tool then builds into its own temporary directory.
func sharedToolDir(root string) (dir string, unlock func(), ok bool) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", nil, false
	}
	sum := sha256.Sum256([]byte(root))
	dir = filepath.Join(cache, "pcache-test-tools", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, false
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return "", nil, false
	}
	return dir, func() { f.Close() }, true
}
