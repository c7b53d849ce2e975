//go:build !linux

package lock

import "os"

// macOS and the BSDs lack open-file-description locks, and POSIX record
// locks are per process and drop on any close: keys lock with flock files.
const rangeLocks = false

func setRange(f *os.File, off int64, lock, wait bool) error { return errUnsupported }
