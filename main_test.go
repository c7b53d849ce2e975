package pcache_test

import (
	"os"
	"testing"

	"github.com/pcache/pcache/internal/testutil"
)

// TestMain runs up to 4×GOMAXPROCS parallel tests at once: most of this
// package's tests wait (on a remote's latency, on flush and refresh
// periods, on lock waits) rather than compute (testutil.MostlyWaiting).
func TestMain(m *testing.M) {
	testutil.MostlyWaiting()
	os.Exit(testutil.Run(m))
}
