//go:build unix && !linux

package fsutil

// LocalFS is false where pcache does not tell file systems apart: closing
// unmaps at once.
func LocalFS(string) bool { return false }
