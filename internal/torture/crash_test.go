package torture_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// crashArgs is the argument of the function the kill test's writers call:
// the result and the out file are both functions of K.
type crashArgs struct {
	K   int
	Out string `pcache:",out"`
}

// crashResult is a CBOR-coded result, so a hit decodes, not only reads.
type crashResult struct {
	K    int
	Data []byte
}

// crashSizes gives every fifth key a large result and out file (up to 1 MiB,
// so kills often land inside their writes) and the rest small ones.
func crashSizes(k int) (result, out int) {
	if k%5 == 0 {
		return 256<<10 + (k*7919)%(768<<10), 128<<10 + (k*104729)%(512<<10)
	}
	return (k * 131) % 4096, (k * 31) % 2048
}

func crashWant(k int) (crashResult, []byte) {
	rn, on := crashSizes(k)
	return crashResult{K: k, Data: testutil.Bytes(uint64(k)<<8|1, rn)}, testutil.Bytes(uint64(k)<<8|2, on)
}

func crashFunc(s *pcache.Store, computed func(k int)) *pcache.Func[crashArgs, crashResult] {
	return pcache.MustWrap(s, "torture/crash", func(_ context.Context, a crashArgs) (crashResult, error) {
		if computed != nil {
			computed(a.K)
		}
		r, out := crashWant(a.K)
		if err := os.WriteFile(a.Out, out, 0o644); err != nil {
			return crashResult{}, err
		}
		return r, nil
	})
}

// crashWorker calls the function on keys PCACHE_TEST_LO, LO+1, … with out
// files under PCACHE_TEST_OUT, printing "ready" once the store is open and
// each key right after its Call returned (= committed), until it is killed.
func crashWorker() int {
	lo, _ := strconv.Atoi(os.Getenv("PCACHE_TEST_LO"))
	var opts []pcache.StoreOption
	if os.Getenv("PCACHE_TEST_DURABLE") == "1" {
		opts = append(opts, pcache.Durable())
	}
	s, err := pcache.Open(os.Getenv("PCACHE_TEST_DIR"), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f := crashFunc(s, nil)
	out := os.Getenv("PCACHE_TEST_OUT")
	fmt.Println("ready")
	for k := lo; k < lo+10000; k++ {
		got, err := f.Call(context.Background(), crashArgs{K: k, Out: filepath.Join(out, strconv.Itoa(k))})
		if err != nil {
			fmt.Fprintln(os.Stderr, "crash worker:", err)
			return 1
		}
		if want, _ := crashWant(k); got.K != k || !bytes.Equal(got.Data, want.Data) {
			fmt.Fprintf(os.Stderr, "crash worker: key %d: wrong value\n", k)
			return 1
		}
		fmt.Println(k)
	}
	return 0
}

// crashStats is what the kill test tallies over all rounds.
type crashStats struct {
	kills        int
	wrong        int // wrong values or out files: must stay 0
	verified     int // hits of committed keys checked
	inflight     int // keys at or after the kill point re-called
	recomputed   int // of those, how many had to be computed again
	unprinted    int // of those, how many were committed although never printed (killed between commit and print)
	leftTemps    int // rounds whose kill left temp files behind (killed mid-write)
	durableKills int
}

// TestKillDuringWrites SIGKILLs a writer process at random moments while it
// stores results and out files (≥ 20 times; ≥ 100 with PCACHE_SOAK=1). After
// each kill: every key the writer reported committed hits (ErrorOnMiss) with
// the right value and restores its out file; the keys it was working on give
// the right value, by hit or recomputation; pcache-fsck check finds no error
// (stray temp files are hints); and after gc -grace 0s check finds nothing
// at all. (gc runs the pcache-fsck binary; check runs it after the first
// kill, and its check in this process otherwise.)
func TestKillDuringWrites(t *testing.T) {
	t.Parallel()
	kills := 24
	if soak() {
		kills = 120
	}
	if testing.Short() {
		kills = 5
	}
	seed := tortureSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	dir := t.TempDir()
	committed := map[int]bool{}
	next := 0 // one past the highest key any round got to
	var st crashStats
	start := time.Now()
	for round := 0; st.kills < kills; round++ {
		if round > 3*kills {
			t.Fatalf("only %d kills in %d rounds: the writer keeps finishing before its kill", st.kills, round)
		}
		lo := max(0, next-3) // re-call the last few keys: hits and out-file restores get killed too
		durable := rng.IntN(3) == 0
		printed, killed := crashRound(t, rng, dir, lo, durable)
		if !killed {
			continue
		}
		st.kills++
		if durable {
			st.durableKills++
		}
		for _, k := range printed {
			committed[k] = true
		}
		hi := lo
		if len(printed) > 0 {
			hi = slices.Max(printed) + 1
		}
		next = max(next, hi+3) // verifyAfterKill stores up to hi+2
		if temps, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(temps) > 0 {
			st.leftTemps++
		}
		// fsck first, before any call of ours repairs or adds anything:
		// the pcache-fsck binary after the first kill, its check in this
		// process (libFsckCheck) after the others and after gc.
		check := func() (int, *fsckReport) { return libFsckCheck(t, dir, 0) }
		if st.kills == 1 {
			check = func() (int, *fsckReport) { return fsckCheck(t, dir, "-grace", "0s") }
		}
		code, rep := check()
		for _, f := range rep.Findings {
			// A merge killed between sealing its output and deleting its
			// inputs leaves duplicate copies, and an append killed mid-write
			// a torn pack: hints, which gc clears (checked below).
			if f.Severity == "error" || f.Kind != "stale-temp" && f.Kind != "dangling" && f.Kind != "duplicate" && f.Kind != "torn-pack" {
				t.Fatalf("round %d (kill %d): after the kill pcache-fsck check found more than stray temp files, dangling objects, duplicate copies and torn packs (exit %d):\n%s", round, st.kills, code, rep)
			}
		}
		verifyAfterKill(t, dir, committed, hi, &st)
		if code, out := fsck(t, "gc", "-grace", "0s", "-dir", dir); code != 0 {
			t.Fatalf("round %d: gc -grace 0s exited %d:\n%s", round, code, out)
		}
		if code, rep := libFsckCheck(t, dir, 0); code != 0 || len(rep.Findings) > 0 {
			t.Fatalf("round %d: check after gc is not clean (exit %d):\n%s", round, code, rep)
		}
	}
	// Finally every key ever committed, in a fresh process's view.
	verifyAfterKill(t, dir, committed, next, &st)
	t.Logf("%d kills (%d of a Durable writer; %d left temp files behind) in %v: %d committed keys, %d hits of committed keys verified, %d wrong values; %d in-flight keys re-called: %d recomputed, %d were committed but unprinted",
		st.kills, st.durableKills, st.leftTemps, time.Since(start).Round(time.Millisecond), len(committed), st.verified, st.wrong, st.inflight, st.recomputed, st.unprinted)
	if st.wrong > 0 {
		t.Fatalf("%d wrong values", st.wrong)
	}
}

// crashRound runs one writer from key lo and SIGKILLs it at a random moment:
// after a random number of committed keys plus a random delay, or a random
// delay after it opened the store. It returns the keys the writer printed
// and whether it died of the kill.
func crashRound(t *testing.T, rng *rand.Rand, dir string, lo int, durable bool) (printed []int, killed bool) {
	t.Helper()
	d := "0"
	if durable {
		d = "1"
	}
	cmd := testutil.Worker("crash", "PCACHE_TEST_DIR="+dir, "PCACHE_TEST_OUT="+t.TempDir(),
		"PCACHE_TEST_LO="+strconv.Itoa(lo), "PCACHE_TEST_DURABLE="+d)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil { // a line without its newline was not printed
				return
			}
			lines <- strings.TrimSuffix(line, "\n")
		}
	}()
	collect := func(line string) {
		if line == "ready" {
			return
		}
		k, err := strconv.Atoi(line)
		if err != nil {
			t.Errorf("writer printed %q", line)
			return
		}
		printed = append(printed, k)
	}
	if line, ok := <-lines; !ok || line != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("writer said %q before anything else", line)
	}
	var delay time.Duration
	if rng.IntN(2) == 0 {
		// After 0-15 commits, then up to 3 ms: inside the next call.
		for n := rng.IntN(16); n > 0; n-- {
			line, ok := <-lines
			if !ok {
				break
			}
			collect(line)
		}
		delay = time.Duration(rng.IntN(3000)) * time.Microsecond
	} else {
		delay = time.Duration(rng.IntN(40000)) * time.Microsecond
	}
	time.Sleep(delay) // a random kill moment, not synchronisation
	cmd.Process.Signal(syscall.SIGKILL)
	for line := range lines {
		collect(line)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return printed, true
		}
	}
	t.Fatalf("writer was not killed by SIGKILL: %v", err)
	return nil, false
}

// verifyAfterKill opens the cache the way a new process would and checks
// every committed key (a hit under ErrorOnMiss, right value, out file
// restored to a new path) and the keys in [hi-3, hi+3) that the writer may
// have been working on (right value, by hit or recomputation).
func verifyAfterKill(t *testing.T, dir string, committed map[int]bool, hi int, st *crashStats) {
	t.Helper()
	s, err := pcache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	computed := map[int]bool{}
	f := crashFunc(s, func(k int) { computed[k] = true })
	outDir := t.TempDir()
	check := func(k int, ctx context.Context) bool {
		p := filepath.Join(outDir, strconv.Itoa(k))
		got, err := f.Call(ctx, crashArgs{K: k, Out: p})
		if err != nil {
			t.Errorf("key %d: %v", k, err)
			st.wrong++
			return false
		}
		want, wantOut := crashWant(k)
		if got.K != want.K || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("key %d: wrong value (K=%d, %d bytes)", k, got.K, len(got.Data))
			st.wrong++
			return false
		}
		if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, wantOut) {
			t.Errorf("key %d: out file holds %d bytes, want %d (%v)", k, len(b), len(wantOut), err)
			st.wrong++
			return false
		}
		return true
	}
	keys := make([]int, 0, len(committed))
	for k := range committed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if check(k, pcache.ErrorOnMiss(context.Background())) {
			st.verified++
		}
	}
	for k := max(0, hi-3); k < hi+3; k++ {
		if committed[k] {
			continue
		}
		hit, err := f.Contains(context.Background(), crashArgs{K: k})
		if err != nil {
			t.Fatal(err)
		}
		st.inflight++
		if check(k, context.Background()) {
			committed[k] = true // stored now (by the writer or by this call)
		}
		if computed[k] {
			st.recomputed++
		} else if hit && k == hi {
			st.unprinted++
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}
