//go:build unix

package fsutil

import (
	"errors"
	"syscall"
)

func isSyncUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.ENOTTY)
}

const canSyncDir = true
