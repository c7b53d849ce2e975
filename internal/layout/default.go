package layout

import (
	"fmt"
	"os"
	"path/filepath"
)

// EnvDir is the environment variable that overrides the default cache
// directory.
const EnvDir = "PCACHE_DIR"

// DefaultDir returns the cache directory used when none is named: $PCACHE_DIR
// if set, else filepath.Join(os.UserCacheDir(), "pcache").
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("pcache: no default cache directory (set $%s): %w", EnvDir, err)
	}
	return filepath.Join(base, "pcache"), nil
}
