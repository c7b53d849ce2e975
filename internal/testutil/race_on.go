//go:build race

package testutil

// Race reports whether the race detector is on (tests that move gigabytes
// shrink under it).
const Race = true
