package torture_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// memoSlow is what a user writes: a package-level memoized function on the
// default store. Building it touches no file; its first call opens the
// store ($PCACHE_DIR).
var memoSlow = pcache.Memo("proc/memo-slow", func(x int) string {
	os.WriteFile(filepath.Join(os.Getenv("PCACHE_TEST_COUNT"), fmt.Sprintf("%d.%d", x, os.Getpid())), nil, 0o644)
	return "slow " + strconv.Itoa(x)
})

// memoProgramWorker calls memoSlow on 0..PCACHE_TEST_KEYS-1 and exits
// without closing anything, as a short program does.
func memoProgramWorker() int {
	n, _ := strconv.Atoi(os.Getenv("PCACHE_TEST_KEYS"))
	for x := range n {
		if got := memoSlow(x); got != "slow "+strconv.Itoa(x) {
			fmt.Fprintln(os.Stderr, "memo:", x, got)
			return 1
		}
	}
	return 0
}

// TestMemoProgramRunTwice: a program with a package-level Memo, run twice
// with one PCACHE_DIR (and no Close), computes each argument once across
// both runs.
func TestMemoProgramRunTwice(t *testing.T) {
	t.Parallel()
	dir, count := t.TempDir(), t.TempDir()
	for run, keys := range []int{10, 20} {
		cmd := testutil.Worker("memoprogram", "PCACHE_DIR="+dir, "PCACHE_TEST_COUNT="+count, "PCACHE_TEST_KEYS="+strconv.Itoa(keys), "PCACHE_REMOTE=", "PCACHE_MODE=")
		if err := cmd.Run(); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
	}
	computed, _ := os.ReadDir(count)
	if len(computed) != 20 {
		t.Fatalf("two runs over 10 and then 20 arguments computed %d times; want 20", len(computed))
	}
}
