//go:build unix

package outfile

import (
	"syscall"
	"testing"
)

// mkfifo makes a named pipe at path.
func mkfifo(t testing.TB, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

// devNull is a device file every unix has.
const devNull = "/dev/null"
