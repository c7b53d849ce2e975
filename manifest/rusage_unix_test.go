//go:build unix

package manifest

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time this process has used (all threads, user and
// system). Benchmarks report CPU per operation beside wall time: on a busy
// shared machine it is the steadier number, and it includes the background
// compaction an Append pays for.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
