package torture_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// syncArgs is the argument of the function the rsync tests share: the
// result and the out file both derive from X.
type syncArgs struct {
	X   int
	Out string `pcache:",out"`
}

func syncWant(x int) string { return fmt.Sprintf("square %d = %d", x, x*x) }

// syncFunc wraps the shared function; tag is appended to results when the
// test wants two machines to compute different (equally valid) bytes.
func syncFunc(s *pcache.Store, tag string, count func()) *pcache.Func[syncArgs, string] {
	return pcache.MustWrap(s, "sync/square", func(_ context.Context, a syncArgs) (string, error) {
		if count != nil {
			count()
		}
		if err := os.WriteFile(a.Out, []byte(syncWant(a.X)), 0o644); err != nil {
			return "", err
		}
		return syncWant(a.X) + tag, nil
	})
}

// syncWorker is one "machine": it computes keys [lo, hi) in PCACHE_TEST_DIR,
// writing out files under PCACHE_TEST_OUT, results tagged PCACHE_TEST_TAG.
// With PCACHE_TEST_PROGRESS it prints each key once its call has returned
// (committed); with PCACHE_TEST_CHUNK=n as well, it reads a line from its
// standard input before each n keys and prints "chunk" after them, its
// Store open all along.
func syncWorker() int {
	lo, _ := strconv.Atoi(os.Getenv("PCACHE_TEST_LO"))
	hi, _ := strconv.Atoi(os.Getenv("PCACHE_TEST_HI"))
	chunk, _ := strconv.Atoi(os.Getenv("PCACHE_TEST_CHUNK"))
	s, err := pcache.Open(os.Getenv("PCACHE_TEST_DIR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	f := syncFunc(s, os.Getenv("PCACHE_TEST_TAG"), nil)
	out := os.Getenv("PCACHE_TEST_OUT")
	progress := os.Getenv("PCACHE_TEST_PROGRESS") != ""
	in := bufio.NewReader(os.Stdin)
	for x := lo; x < hi; x++ {
		if chunk > 0 && (x-lo)%chunk == 0 {
			in.ReadString('\n') // the test's go-ahead (or EOF: go on)
		}
		if _, err := f.Call(context.Background(), syncArgs{X: x, Out: filepath.Join(out, strconv.Itoa(x))}); err != nil {
			fmt.Fprintln(os.Stderr, "sync worker:", err)
			return 1
		}
		if progress {
			fmt.Println(x) // committed: the call returned
		}
		if chunk > 0 && ((x-lo+1)%chunk == 0 || x == hi-1) {
			fmt.Println("chunk")
		}
	}
	return 0
}

func needRsync(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed (.ci/run installs it with apt-get); skipping the real-rsync tests")
	}
}

// rsyncFlags are the README's: archive mode, files that grow are appended
// to (a receiver's longer copy wins, a shorter one that is a prefix gets the
// rest), and the machine-local directories stay home.
var rsyncFlags = []string{"-a", "--append-verify", "--exclude", "/tmp/", "--exclude", "/locks/", "--exclude", "/lost+found/", "--exclude", "/remote/"}

// rsync runs the two merge commands the README documents: the manifests
// first, then the objects (which a writer stores before the records that
// reference them), so a copy taken during writes never references an object
// it lacks. Each must exit 0, live caches included: a file a running
// program merges or compacts away stays for a grace period, so none
// vanishes under rsync.
func rsync(t *testing.T, args ...string) {
	t.Helper()
	for _, skip := range []string{"/objects/", "/manifests/"} {
		cmd := exec.Command("rsync", append(append(slices.Clone(rsyncFlags), "--exclude", skip), args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rsync %v (excluding %s): %v\n%s", args, skip, err, out)
		}
	}
}

func runSyncWorker(t *testing.T, dir, out, tag string, lo, hi int) {
	t.Helper()
	cmd := testutil.Worker("sync", "PCACHE_TEST_DIR="+dir, "PCACHE_TEST_OUT="+out, "PCACHE_TEST_TAG="+tag,
		"PCACHE_TEST_LO="+strconv.Itoa(lo), "PCACHE_TEST_HI="+strconv.Itoa(hi))
	if err := cmd.Run(); err != nil {
		t.Fatalf("sync worker on %s: %v", dir, err)
	}
}

// fsck runs the real pcache-fsck binary (built once per test run) and returns
// its exit code and output.
func fsck(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(fsckBinary(t), args...).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	} else if err != nil {
		t.Fatalf("pcache-fsck %v: %v", args, err)
	}
	return 0, string(out)
}

func checkClean(t *testing.T, dir string) {
	t.Helper()
	if code, out := fsck(t, "check", "-dir", dir); code != 0 {
		t.Fatalf("pcache-fsck check %s exited %d:\n%s", dir, code, out)
	}
}

// libCheckClean is checkClean run in this process (libCheck): for the
// checks that only need check's verdict, in tests that run the binary's
// check elsewhere.
func libCheckClean(t *testing.T, dir string) {
	t.Helper()
	if code, rep := libFsckCheck(t, dir, time.Hour); code != 0 {
		t.Fatalf("pcache-fsck check %s (in this process) exited %d:\n%s", dir, code, rep)
	}
}

// serveAll asserts that every key in [lo, hi) hits in dir (no computation)
// and restores its out file to a path of this side.
func serveAll(t *testing.T, dir string, lo, hi int) map[int]string {
	t.Helper()
	s := openStore(t, dir)
	f := syncFunc(s, "-recomputed", func() { t.Errorf("recomputed in %s", dir) })
	out := t.TempDir()
	got := map[int]string{}
	for x := lo; x < hi; x++ {
		p := filepath.Join(out, strconv.Itoa(x))
		v, err := f.Call(pcache.ErrorOnMiss(context.Background()), syncArgs{X: x, Out: p})
		if err != nil {
			t.Fatalf("%s: key %d: %v", dir, x, err)
		}
		if !strings.HasPrefix(v, syncWant(x)) {
			t.Fatalf("%s: key %d: got %q", dir, x, v)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != syncWant(x) {
			t.Fatalf("%s: key %d: out file holds %q (%v)", dir, x, b, err)
		}
		got[x] = v
	}
	return got
}

func TestRsyncMergesBothWays(t *testing.T) {
	t.Parallel()
	needRsync(t)
	a, b := t.TempDir(), t.TempDir()
	outA, outB := t.TempDir(), t.TempDir() // paths that exist on one "machine" only
	// Over journalLimit entries per writer, so journals rotate and compact
	// many times; B writes some of A's keys and keys of its own. In -short,
	// only A's writer goes over the limit (it rotates and compacts once),
	// and B writes 20 keys, half of them A's; the checks before the last
	// of each side run pcache-fsck's check in this process. Every serve
	// takes every key: a serve that restores out files to new paths
	// appends records, so the serves rotate and compact the readers'
	// journals too, and the next rsync copies what they compacted.
	aHi, bLo, bHi := 15*journalLimit, 10*journalLimit, 20*journalLimit
	midCheckClean := checkClean
	if testing.Short() {
		aHi, bLo, bHi = journalLimit+10, journalLimit, journalLimit+20
		midCheckClean = libCheckClean
	}
	runSyncWorker(t, a, outA, "", 0, aHi)
	runSyncWorker(t, b, outB, "", bLo, bHi)
	rsync(t, a+"/", b+"/")
	rsync(t, b+"/", a+"/")
	serveAll(t, a, 0, bHi)
	serveAll(t, b, 0, bHi)
	midCheckClean(t, a)
	midCheckClean(t, b)

	// Compaction on A (gc compacts manifests) and new entries on both sides,
	// then the same two rsyncs: still the union, superseded files harmless.
	runSyncWorker(t, a, outA, "", bHi, bHi+journalLimit)
	if code, out := fsck(t, "gc", "-dir", a); code != 0 {
		t.Fatalf("gc on A: %d\n%s", code, out)
	}
	runSyncWorker(t, b, outB, "", bHi+journalLimit, bHi+2*journalLimit)
	rsync(t, a+"/", b+"/")
	rsync(t, b+"/", a+"/")
	serveAll(t, a, 0, bHi+2*journalLimit)
	serveAll(t, b, 0, bHi+2*journalLimit)
	checkClean(t, a)
	midCheckClean(t, b)
	if code, out := fsck(t, "gc", "-dir", b); code != 0 {
		t.Fatalf("gc on B: %d\n%s", code, out)
	}
	serveAll(t, b, 0, bHi+2*journalLimit)
	checkClean(t, b)
}

func TestRsyncConflictResolvesAlike(t *testing.T) {
	t.Parallel()
	needRsync(t)
	a, b := t.TempDir(), t.TempDir()
	runSyncWorker(t, a, t.TempDir(), " (computed on A)", 0, 20)
	runSyncWorker(t, b, t.TempDir(), " (computed on B)", 0, 20)
	rsync(t, a+"/", b+"/")
	rsync(t, b+"/", a+"/")
	onA, onB := serveAll(t, a, 0, 20), serveAll(t, b, 0, 20)
	for x := range 20 {
		if onA[x] != onB[x] {
			t.Fatalf("key %d resolves to %q on A and %q on B", x, onA[x], onB[x])
		}
	}
	checkClean(t, a)
	libCheckClean(t, b) // the same check, in this process
}

func TestRsyncDuringWrites(t *testing.T) {
	t.Parallel()
	needRsync(t)
	keys := 15 * journalLimit
	if testing.Short() {
		keys = journalLimit + 10 // still over the journal limit: the writer rotates once
	}
	a, c := t.TempDir(), t.TempDir()
	cmd := testutil.Worker("sync", "PCACHE_TEST_DIR="+a, "PCACHE_TEST_OUT="+t.TempDir(),
		"PCACHE_TEST_LO=0", "PCACHE_TEST_HI="+strconv.Itoa(keys))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	copies := 0
	for running := true; running; copies++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			running = false
		default:
		}
		rsync(t, a+"/", c+"/")
		// Whatever the copy holds is right: hits return the right value, the
		// rest are misses, never errors.
		s, err := pcache.Open(c)
		if err != nil {
			t.Fatal(err)
		}
		f := syncFunc(s, "", nil)
		out := t.TempDir()
		for x := 0; x < keys; x += 7 {
			v, err := f.Call(pcache.ErrorOnMiss(context.Background()), syncArgs{X: x, Out: filepath.Join(out, strconv.Itoa(x))})
			if err != nil && !errors.Is(err, pcache.ErrCacheMiss) {
				t.Fatalf("copy %d: key %d: %v", copies, x, err)
			}
			if err == nil && v != syncWant(x) {
				t.Fatalf("copy %d: key %d: wrong value %q", copies, x, v)
			}
		}
		s.Close()
		// The pcache-fsck binary checks the first copy; its check in this
		// process (libCheckClean) the others.
		if copies > 0 {
			libCheckClean(t, c)
		} else if code, out := fsck(t, "check", "-dir", c); code != 0 {
			t.Fatalf("check on copy %d exited %d:\n%s", copies, code, out)
		}
	}
	rsync(t, a+"/", c+"/") // the next rsync completes the copy
	serveAll(t, c, 0, keys)
	t.Logf("%d copies taken while the writer ran", copies)
}

func TestRsyncDeleteIsAMirror(t *testing.T) {
	t.Parallel()
	needRsync(t)
	a, b := t.TempDir(), t.TempDir()
	runSyncWorker(t, a, t.TempDir(), "", 0, 10)
	runSyncWorker(t, b, t.TempDir(), "", 5, 10)
	rsync(t, "--delete", b+"/", a+"/") // not a merge: A becomes a copy of B
	s := openStore(t, a)
	f := syncFunc(s, "", nil)
	for x := range 10 {
		ok, err := f.Contains(context.Background(), syncArgs{X: x})
		if err != nil {
			t.Fatal(err)
		}
		if ok != (x >= 5) {
			t.Fatalf("after rsync --delete, key %d present=%v: want only B's keys", x, ok)
		}
	}
}

// liveWriter runs a sync worker over keys [lo, hi) that writes them a
// chunk at a time, each when next is called, its Store open from start to
// end; committed() is how many keys from lo are committed.
type liveWriter struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	chunks chan struct{} // one send per chunk written
	done   chan error
	n      atomic.Int64
	left   int // chunks not yet asked for
}

func startLiveWriter(t *testing.T, dir string, lo, hi, chunk int) *liveWriter {
	t.Helper()
	w := &liveWriter{chunks: make(chan struct{}, hi-lo), done: make(chan error, 1), left: (hi - lo + chunk - 1) / chunk}
	w.cmd = testutil.Worker("sync", "PCACHE_TEST_DIR="+dir, "PCACHE_TEST_OUT="+t.TempDir(), "PCACHE_TEST_PROGRESS=1",
		"PCACHE_TEST_CHUNK="+strconv.Itoa(chunk), "PCACHE_TEST_LO="+strconv.Itoa(lo), "PCACHE_TEST_HI="+strconv.Itoa(hi))
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if w.in, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "chunk" {
				w.chunks <- struct{}{}
			} else {
				w.n.Add(1)
			}
		}
		w.done <- w.cmd.Wait()
	}()
	t.Cleanup(func() { w.cmd.Process.Kill() })
	return w
}

// next lets the writer write its next chunk; it reports false when there
// is none left.
func (w *liveWriter) next(t *testing.T) bool {
	t.Helper()
	if w.left == 0 {
		return false
	}
	w.left--
	if _, err := io.WriteString(w.in, "go\n"); err != nil {
		t.Fatalf("writer: %v", err)
	}
	return true
}

// wait returns once the chunk next asked for is committed, or fails the
// test if the writer exited first.
func (w *liveWriter) wait(t *testing.T) {
	t.Helper()
	select {
	case <-w.chunks:
	case err := <-w.done:
		w.done <- err // for the last wait, in the test
		select {
		case <-w.chunks: // sent before done: it wrote its last chunk and exited
		default:
			t.Fatalf("writer exited before its chunk was written: %v", err)
		}
	}
}

// serveSome asserts that keys [lo, hi) hit in dir with the right value:
// a reader opened beside the running writers, as a user's would be. With
// stride > 1 it serves every stride-th key from lo and the last one (the
// latest committed) only.
func serveSome(t *testing.T, dir string, lo, hi, stride int) {
	t.Helper()
	s := openStore(t, dir)
	defer s.Close()
	f := syncFunc(s, "", nil)
	out := t.TempDir()
	for x := lo; x < hi; x++ {
		if (x-lo)%stride != 0 && x != hi-1 {
			continue
		}
		v, err := f.Call(pcache.ErrorOnMiss(context.Background()), syncArgs{X: x, Out: filepath.Join(out, strconv.Itoa(x))})
		if err != nil || v != syncWant(x) {
			t.Fatalf("%s: key %d, committed before the sync began: %q, %v", dir, x, v, err)
		}
	}
}

// TestRsyncBothWaysLive syncs two caches into each other with the README's
// commands while each has a program appending with its Store open (its
// journal rotating and compacting) and short-lived programs whose Opens
// merge the packs left behind: every sync exits 0, and after each round
// both sides serve every entry committed on either before the round began
// (in -short, every fifth of them and the last of each writer: all of them
// once the writers are done). Each round lets the long writers write a
// chunk while the short-lived programs run and the syncs copy, so the
// syncs meet journals being appended to; the writers' Stores stay open
// from the first round to the last.
func TestRsyncBothWaysLive(t *testing.T) {
	t.Parallel()
	needRsync(t)
	a, b := t.TempDir(), t.TempDir()
	keysA, keysB := 25*journalLimit, 25*journalLimit // many journal rotations per long writer
	stride := 1                                      // of the keys served after each round
	if testing.Short() {
		// One rotation and compaction on A, in the last of the rounds;
		// B's long writer stays within one journal. A's rotating journal
		// is then both the source (A to B) and the destination (B to A) of
		// a sync, as both sides' are in the long run.
		keysA, keysB = journalLimit+10, journalLimit/5
		stride = 5
	}
	chunk := (keysA + 2) / 3 // three rounds
	wa, wb := startLiveWriter(t, a, 0, keysA, chunk), startLiveWriter(t, b, 10000, 10000+keysB, chunk)
	var short [2]int // keys committed by the short-lived writers of each side
	shortBase := [2]int{20000, 30000}
	rounds := 0
	for ; ; rounds++ {
		var writing []*liveWriter
		for _, w := range []*liveWriter{wa, wb} {
			if w.next(t) {
				writing = append(writing, w)
			}
		}
		if len(writing) == 0 {
			break
		}
		// Short-lived programs: each leaves a small pack; the next one
		// merges them (from its first write on) once there are four.
		for i, dir := range []string{a, b} {
			lo := shortBase[i] + short[i]
			runSyncWorker(t, dir, t.TempDir(), "", lo, lo+20)
			short[i] += 20
		}
		doneA, doneB := int(wa.n.Load()), int(wb.n.Load())
		shortA, shortB := short[0], short[1]
		rsync(t, a+"/", b+"/")
		rsync(t, b+"/", a+"/")
		for _, dir := range []string{a, b} {
			serveSome(t, dir, 0, doneA, stride)
			serveSome(t, dir, 10000, 10000+doneB, stride)
			serveSome(t, dir, shortBase[0], shortBase[0]+shortA, stride)
			serveSome(t, dir, shortBase[1], shortBase[1]+shortB, stride)
		}
		for _, w := range writing {
			w.wait(t)
		}
	}
	for _, w := range []*liveWriter{wa, wb} {
		w.in.Close()
		if err := <-w.done; err != nil {
			t.Fatalf("writer: %v", err)
		}
	}
	rsync(t, a+"/", b+"/")
	rsync(t, b+"/", a+"/")
	for _, dir := range []string{a, b} {
		serveAll(t, dir, 0, keysA)
		serveAll(t, dir, 10000, 10000+keysB)
		serveAll(t, dir, shortBase[0], shortBase[0]+short[0])
		serveAll(t, dir, shortBase[1], shortBase[1]+short[1])
		if dir == a {
			checkClean(t, dir)
		} else {
			libCheckClean(t, dir) // the same check, in this process
		}
	}
	t.Logf("%d rounds of two-way syncs while both sides wrote, merged and compacted", rounds)
}
