package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// workerEnv, when set to a cache directory, makes the test binary a writer
// process (TestWorkerWrites) instead of running the tests.
const workerEnv = "PCACHE_FSCK_TEST_WORKER_DIR"

// TestGCBesideWriters runs gc -grace 0s in a loop while four writer
// processes add entries, then checks that the cache is clean and that every
// entry a writer committed reads back. PCACHE_SOAK=1 runs for 20 s instead
// of 5 s.
func TestGCBesideWriters(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("multi-process soak")
	}
	dur := 5 * time.Second
	if os.Getenv("PCACHE_SOAK") != "" {
		dur = 20 * time.Second
	}
	c := newTestCache(t)
	c.Fill("seed", 10, nil)
	deadline := time.Now().Add(dur)
	type worker struct {
		cmd *exec.Cmd
		out bytes.Buffer
	}
	var ws []*worker
	for i := 0; i < 4; i++ {
		w := &worker{cmd: testutil.Rerun("TestWorkerWrites", workerEnv+"="+c.Dir, "PCACHE_FSCK_TEST_WORKER_ID="+strconv.Itoa(i),
			"PCACHE_FSCK_TEST_DEADLINE="+strconv.FormatInt(deadline.UnixNano(), 10))}
		w.cmd.Args = append(w.cmd.Args, "-test.v")
		w.cmd.Stdout = &w.out
		w.cmd.Stderr = os.Stderr
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	done := make(chan error, len(ws))
	for _, w := range ws {
		go func() { done <- w.cmd.Wait() }()
	}
	gcs, running := 0, len(ws)
	for running > 0 {
		select {
		case err := <-done:
			running--
			if err != nil {
				t.Errorf("worker: %v", err)
			}
			continue
		default:
		}
		runCLICode(t, 0, "gc", "-grace", "0s", "-dir", c.Dir)
		gcs++
	}
	runCLICode(t, 0, "check", "-dir", c.Dir)
	runCLICode(t, 0, "gc", "-grace", "0s", "-dir", c.Dir)
	r := runCLICode(t, 0, "check", "-dir", c.Dir)

	// Every entry a writer committed reads back: a call under ErrorOnMiss hits.
	s, err := pcache.Open(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	funcs := map[string]*pcache.Func[string, string]{}
	ctx := pcache.ErrorOnMiss(context.Background())
	total := 0
	for _, w := range ws {
		sc := bufio.NewScanner(&w.out)
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "WROTE ")
			if !ok {
				continue
			}
			name, key, _ := strings.Cut(line, " ")
			f := funcs[name]
			if f == nil {
				f = pcache.MustWrap(s, name, func(context.Context, string) (string, error) {
					return "", errors.New("recomputed")
				})
				funcs[name] = f
			}
			total++
			got, err := f.Call(ctx, key)
			if err != nil || got != workerValue(key) {
				t.Errorf("%s %s was committed but reads back %q, %v", name, key, got, err)
			}
		}
	}
	t.Logf("%d gc runs beside 4 writers committing %d entries; final check: %s", gcs, total, strings.TrimSpace(r.stdout))
	if total < 40 {
		t.Errorf("writers committed only %d entries", total)
	}
}

// workerValue is what the writers' function returns for key "w<id>-<n>":
// even n share ten results across all writers, so dedup hits race with gc.
func workerValue(key string) string {
	_, ns, _ := strings.Cut(key, "-")
	n, _ := strconv.Atoi(ns)
	if n%2 == 0 {
		return fmt.Sprintf("shared %d", n%20)
	}
	return "private " + key
}

// TestWorkerWrites is the writer process of TestGCBesideWriters: until the
// deadline it calls a cached function through the library on new keys, two
// workers per function name, and prints each key once its call returned.
func TestWorkerWrites(t *testing.T) {
	dir := os.Getenv(workerEnv)
	if dir == "" {
		t.Skip("only runs as a worker process")
	}
	id := os.Getenv("PCACHE_FSCK_TEST_WORKER_ID")
	ns, _ := strconv.ParseInt(os.Getenv("PCACHE_FSCK_TEST_DEADLINE"), 10, 64)
	deadline := time.Unix(0, ns)
	s, err := pcache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	name := "w/" + strconv.Itoa(int(id[0]-'0')%2)
	f := pcache.MustWrap(s, name, func(_ context.Context, key string) (string, error) {
		return workerValue(key), nil
	})
	for n := 0; time.Now().Before(deadline); n++ {
		key := fmt.Sprintf("w%s-%d", id, n)
		if _, err := f.Call(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("WROTE %s %s\n", name, key)
	}
}
