//go:build unix && !linux

package fsutil

// localFS is false where pcache does not tell file systems apart: closing
// unmaps at once.
func localFS(string) bool { return false }
