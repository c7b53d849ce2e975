//go:build !unix

package testutil

import "time"

// CPUTime is unavailable here; benchmarks report 0 CPU.
func CPUTime() time.Duration { return 0 }
