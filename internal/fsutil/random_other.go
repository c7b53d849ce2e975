//go:build !linux

package fsutil

// randomBytes fills b from the system's generator.
func randomBytes(b []byte) { systemRandom(b) }
