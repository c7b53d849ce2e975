//go:build !linux

package pcache

import (
	"context"

	"github.com/pcache/pcache/cas"
)

// lockRange reports that byte-range key locks are not used on this platform
// (macOS and the BSDs lack open-file-description locks; POSIX record locks
// are per process and drop on any close): keys lock with flock files.
func lockRange(ctx context.Context, path string, id cas.ID) (unlock func(bool), ok bool, err error) {
	return nil, false, nil
}
