package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/gclock"
	"github.com/pcache/pcache/manifest"
)

// workerEnv, when set to a cache directory, makes the test binary a writer
// process (TestWorkerWrites) instead of running the tests.
const workerEnv = "PCACHE_FSCK_TEST_WORKER_DIR"

// TestGCBesideWriters runs gc -grace 0s in a loop while four writer
// processes add entries, then checks that the cache is clean and that every
// entry a writer committed reads back. PCACHE_SOAK=1 runs for 20 s instead
// of 5 s.
func TestGCBesideWriters(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process soak")
	}
	dur := 5 * time.Second
	if os.Getenv("PCACHE_SOAK") != "" {
		dur = 20 * time.Second
	}
	c := newTestCache(t)
	c.fill("seed", 10, nil)
	deadline := time.Now().Add(dur)
	type worker struct {
		cmd *exec.Cmd
		out bytes.Buffer
	}
	var ws []*worker
	for i := 0; i < 4; i++ {
		w := &worker{cmd: exec.Command(os.Args[0], "-test.run=^TestWorkerWrites$", "-test.v")}
		w.cmd.Env = append(os.Environ(), workerEnv+"="+c.dir, "PCACHE_FSCK_TEST_WORKER_ID="+strconv.Itoa(i),
			"PCACHE_FSCK_TEST_DEADLINE="+strconv.FormatInt(deadline.UnixNano(), 10))
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
		fsckCode(t, 0, "gc", "-grace", "0s", "-dir", c.dir)
		gcs++
	}
	fsckCode(t, 0, "check", "-dir", c.dir)
	fsckCode(t, 0, "gc", "-grace", "0s", "-dir", c.dir)
	r := fsckCode(t, 0, "check", "-dir", c.dir)
	total := 0
	live := map[string]map[[32]byte]manifest.Entry{}
	for _, w := range ws {
		sc := bufio.NewScanner(&w.out)
		for sc.Scan() {
			name, key, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "WROTE "), " ")
			if !ok || !strings.HasPrefix(sc.Text(), "WROTE ") {
				continue
			}
			total++
			if live[name] == nil {
				live[name] = c.live(name)
			}
			e, ok := live[name][keyHash(key)]
			if !ok || !c.readsBack(e) {
				t.Errorf("%s %s was committed but does not read back", name, key)
			}
		}
	}
	t.Logf("%d gc runs beside 4 writers committing %d entries; final check: %s", gcs, total, strings.TrimSpace(r.stdout))
	if total < 40 {
		t.Errorf("writers committed only %d entries", total)
	}
}

// TestWorkerWrites is the writer process of TestGCBesideWriters: until the
// deadline it commits entries the way the library does (objects written and
// manifest record committed under the shared gc lock), half of them sharing
// content with other workers so dedup hits race with gc too.
func TestWorkerWrites(t *testing.T) {
	dir := os.Getenv(workerEnv)
	if dir == "" {
		t.Skip("only runs as a worker process")
	}
	id := os.Getenv("PCACHE_FSCK_TEST_WORKER_ID")
	ns, _ := strconv.ParseInt(os.Getenv("PCACHE_FSCK_TEST_DEADLINE"), 10, 64)
	deadline := time.Unix(0, ns)
	c := &testCache{t: t, dir: dir, store: openTestStore(t, dir)}
	name := "w/" + strconv.Itoa(int(id[0]-'0')%2) // two workers per manifest
	lk := gclock.NewShared(dir)
	m, err := manifest.Open(dir, name, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for n := 0; time.Now().Before(deadline); n++ {
		if err := lk.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("w%s-%d", id, n)
		val := []byte(fmt.Sprintf("private %s", key))
		if n%2 == 0 {
			val = []byte(fmt.Sprintf("shared %d", n%20))
		}
		e := c.entry(key, val)
		if err := m.Append(e); err != nil {
			t.Fatal(err)
		}
		lk.Release()
		fmt.Printf("WROTE %s %s\n", name, key)
	}
}
