//go:build unix

package remote

import (
	"io/fs"
	"os"
	"syscall"
)

// currentUID is the user whose outbox files this process publishes (a
// variable so tests can play another user without being root).
var currentUID = os.Getuid

// ownedByMe reports whether fi (from fstat of an open descriptor) belongs
// to the user running this process.
func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == currentUID()
}

// fileOwner returns the uid of fi, for messages.
func fileOwner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
