//go:build unix && !linux

package lock

import (
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// holderOf names the process holding a POSIX lock on f when the system says
// (F_GETLK; flock holders are not reported here).
func holderOf(f *os.File, off int64) string {
	start := off
	if start < 0 {
		start = 0
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: start, Len: 1}
	if unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk) == nil && lk.Type != unix.F_UNLCK && lk.Pid > 0 {
		return "process " + strconv.Itoa(int(lk.Pid))
	}
	return ""
}
