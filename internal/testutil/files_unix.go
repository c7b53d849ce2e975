//go:build unix

package testutil

import (
	"fmt"
	"os"
	"syscall"
)

// Mkfifo makes a FIFO (mode 0644) at path.
func Mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// owner is " uid:gid" of the file fi describes.
func owner(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
	}
	return ""
}
