//go:build !linux

package fsutil

import "crypto/rand"

// randomBytes fills b from the system's generator.
func randomBytes(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("fsutil: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
}
