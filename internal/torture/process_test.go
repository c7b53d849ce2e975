package torture_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/testutil"
)

// The test binary re-executes itself as the worker processes the tests
// start (testutil.Worker). The tests wait for those processes, for held
// locks and for the tests that run Alone as much as they compute
// (testutil.MostlyWaiting).
// journalLimit is the records per journal in these tests' processes and
// their workers (1024 in a user's): journals rotate and compact after a
// hundred entries, so a test of rotation writes a hundred-odd keys.
const journalLimit = 100

func TestMain(m *testing.M) {
	testutil.MostlyWaiting()
	manifest.SetDefaultJournalLimit(journalLimit)
	testutil.BuildFirst("cmd/pcache-fsck")
	testutil.Main(m, map[string]func() int{
		"samekeys":     sameKeysWorker,
		"hold":         holdWorker,
		"sync":         syncWorker,
		"crash":        crashWorker,
		"readonly":     readOnlyWorker,
		"team":         teamWorker,
		"serve":        serveWorker,
		"remotewriter": remoteWriterWorker,
		"remotecrash":  remoteCrashWorker,
		"memoprogram":  memoProgramWorker,
		"holdlock":     holdLockWorker,
		"machine":      machineWorker,
	})
}

// sameKeysWorker calls one function over PCACHE_TEST_KEYS keys in an order of
// its own and records every computation as a file in PCACHE_TEST_COUNT.
func sameKeysWorker() int {
	keys, _ := strconv.Atoi(os.Getenv("PCACHE_TEST_KEYS"))
	seed, _ := strconv.ParseUint(os.Getenv("PCACHE_TEST_SEED"), 10, 64)
	countDir := os.Getenv("PCACHE_TEST_COUNT")
	s, err := pcache.Open(os.Getenv("PCACHE_TEST_DIR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	f := pcache.MustWrap(s, "proc/samekeys", func(_ context.Context, k int) (string, error) {
		name := filepath.Join(countDir, fmt.Sprintf("%d.%d", k, os.Getpid()))
		if err := os.WriteFile(name, nil, 0o644); err != nil {
			return "", err
		}
		return fmt.Sprintf("value-%d", k), nil
	})
	order := rand.New(rand.NewPCG(seed, seed)).Perm(keys)
	for _, k := range order {
		got, err := f.Call(context.Background(), k)
		if err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			return 1
		}
		if want := fmt.Sprintf("value-%d", k); got != want {
			fmt.Fprintf(os.Stderr, "worker: key %d: got %q, want %q\n", k, got, want)
			return 1
		}
	}
	return 0
}

func TestProcessesComputeEachKeyOnce(t *testing.T) {
	t.Parallel()
	keys := 2000
	if testing.Short() {
		keys = 200
	}
	dir, countDir := t.TempDir(), t.TempDir()
	var cmds []*exec.Cmd
	for p := range 4 {
		cmd := testutil.Worker("samekeys", "PCACHE_TEST_DIR="+dir, "PCACHE_TEST_COUNT="+countDir,
			"PCACHE_TEST_KEYS="+strconv.Itoa(keys), "PCACHE_TEST_SEED="+strconv.Itoa(p+1))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("worker failed: %v", err)
		}
	}
	computed, err := os.ReadDir(countDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(computed) != keys {
		t.Fatalf("4 processes over %d keys computed %d times, want exactly %d", keys, len(computed), keys)
	}
	t.Logf("4 processes, %d keys: %d computations", keys, len(computed))
}

// holdWorker starts computing key 1, says so on stdout, and never finishes.
func holdWorker() int {
	s, err := pcache.Open(os.Getenv("PCACHE_TEST_DIR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f := pcache.MustWrap(s, "proc/hold", func(ctx context.Context, k int) (int, error) {
		fmt.Println("computing")
		select {} // until killed
	})
	f.Call(context.Background(), 1)
	return 1
}

func TestWaiterComputesWhenHolderDies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := testutil.Worker("hold", "PCACHE_TEST_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "computing\n" {
		t.Fatalf("worker said %q, %v", line, err)
	}
	s := openStore(t, dir)
	var mu sync.Mutex
	computed := false
	f := pcache.MustWrap(s, "proc/hold", func(ctx context.Context, k int) (int, error) {
		mu.Lock()
		computed = true
		mu.Unlock()
		return 42, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Call(ctx, 1); err == nil {
		t.Fatal("a cancelled waiter got a value while the holder was computing")
	}
	done := make(chan error, 1)
	go func() {
		v, err := f.Call(context.Background(), 1)
		if err == nil && v != 42 {
			err = fmt.Errorf("got %d", v)
		}
		done <- err
	}()
	cmd.Process.Kill()
	cmd.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !computed {
		t.Fatal("the waiter did not compute after the holder died")
	}
}
