//go:build !unix

package outfile

import "testing"

func mkfifo(t testing.TB, path string) {
	t.Helper()
	t.Skip("no named pipes in the file system on this platform")
}

const devNull = "NUL"
