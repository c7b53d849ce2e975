package torture_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// machineWorker is one machine of a team: its own cache in PCACHE_TEST_DIR,
// the team's remote in PCACHE_REMOTE, 4 goroutines calling a 50 ms
// function over keys 0..PCACHE_TEST_KEYS-1 in an order of its own (seeded
// by PCACHE_TEST_SEED). It prints "computed K" for every computation.
func machineWorker() int {
	keys, _ := strconv.Atoi(os.Getenv("PCACHE_TEST_KEYS"))
	seed, _ := strconv.ParseUint(os.Getenv("PCACHE_TEST_SEED"), 10, 64)
	s, err := pcache.Open(os.Getenv("PCACHE_TEST_DIR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	f := pcache.MustWrap(s, "team/work", func(_ context.Context, k int) (string, error) {
		time.Sleep(50 * time.Millisecond) // the computation
		mu.Lock()
		fmt.Fprintln(out, "computed", k)
		mu.Unlock()
		return fmt.Sprintf("result of %d", k), nil
	})
	order := rand.New(rand.NewPCG(seed, 1)).Perm(keys)
	next := make(chan int)
	go func() {
		for _, k := range order {
			next <- k
		}
		close(next)
	}()
	var wg sync.WaitGroup
	failed := false
	for range 4 {
		wg.Go(func() {
			for k := range next {
				if v, err := f.Call(context.Background(), k); err != nil || v != fmt.Sprintf("result of %d", k) {
					mu.Lock()
					failed = true
					fmt.Fprintln(os.Stderr, "machine:", k, v, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "machine: close:", err)
		return 1
	}
	mu.Lock()
	out.Flush()
	mu.Unlock()
	if failed {
		return 1
	}
	return 0
}

// TestRemoteTeamDuplicateWork measures how many computations of a
// two-machine team sharing a remote are duplicates: both machines compute
// the same 200 keys (50 ms each, 4 goroutines each) in orders of their
// own. Every computation beyond the first of a key is one the team paid
// twice. It reports the share (BENCHMARKS.md); the values are checked, the
// share is not asserted (it depends on timing).
func TestRemoteTeamDuplicateWork(t *testing.T) {
	if testing.Short() {
		t.Skip("a measurement: about 5 s of 50 ms computations")
	}
	const keys = 200
	url := "file://" + t.TempDir()
	var mu sync.Mutex
	computed := map[int]int{}
	total := 0
	var wg sync.WaitGroup
	for m := range 2 {
		cmd := testutil.Worker("machine", "PCACHE_TEST_DIR="+t.TempDir(), "PCACHE_REMOTE="+url,
			"PCACHE_TEST_KEYS="+strconv.Itoa(keys), "PCACHE_TEST_SEED="+strconv.Itoa(m+1))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var k int
				if _, err := fmt.Sscanf(sc.Text(), "computed %d", &k); err == nil {
					mu.Lock()
					computed[k]++
					total++
					mu.Unlock()
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("machine %d: %v", m, err)
			}
		})
	}
	wg.Wait()
	if len(computed) != keys {
		t.Fatalf("%d keys computed, want %d", len(computed), keys)
	}
	dups := total - keys
	t.Logf("two machines, %d keys of 50 ms: %d computations, %d duplicates (%.1f%%)", keys, total, dups, 100*float64(dups)/float64(total))
}
