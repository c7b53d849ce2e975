//go:build unix

package testutil

import (
	"syscall"
	"time"
)

// CPUTime returns the CPU time this process has used (all threads, user and
// system), so benchmarks can report CPU per operation, steadier than wall
// time on a shared machine.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
