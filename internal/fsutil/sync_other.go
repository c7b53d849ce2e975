//go:build !unix

package fsutil

// Directories cannot be fsynced on these platforms (Windows); renames there
// are made durable by the file system's own journal.
const canSyncDir = false

func isSyncUnsupported(err error) bool { return false }
