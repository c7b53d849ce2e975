//go:build !linux

package fsutil

import "os"

// SyncData flushes f's data to stable storage (fsync: this platform has no
// cheaper call that is as safe).
func SyncData(f *os.File) error { return f.Sync() }
