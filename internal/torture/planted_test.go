package torture_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil"
)

// Issue 26: a member of a team cache's group plants symbolic links, hard
// links, FIFOs, sparse giant files and held locks at the paths pcache
// opens. Each test plants one thing in a fresh cache, then runs Open, Wrap
// and Call and checks: every value is right, no call outlives its deadline,
// and no file outside the cache is changed (content, size, mode) or
// created.

// plantedWait is the LockWait the tests give stores: long enough for a
// loaded machine, short enough for the test.
const plantedWait = 1500 * time.Millisecond

// victim is a file outside the cache that must stay as it is.
type victim struct {
	path string
	data []byte
	mode os.FileMode
}

func newVictim(t *testing.T) victim {
	t.Helper()
	v := victim{path: filepath.Join(t.TempDir(), "victim-secret"), data: []byte("group-only secret\n"), mode: 0o640}
	if err := os.WriteFile(v.path, v.data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(v.path, v.mode); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v victim) check(t *testing.T) {
	t.Helper()
	fi, err := os.Stat(v.path)
	if err != nil {
		t.Fatalf("victim: %v", err)
	}
	b, _ := os.ReadFile(v.path)
	if !bytes.Equal(b, v.data) || fi.Size() != int64(len(v.data)) || fi.Mode().Perm() != v.mode {
		t.Fatalf("the file outside the cache changed: %d bytes %q, mode %v (was %d bytes, mode %v)", fi.Size(), b[:min(len(b), 40)], fi.Mode().Perm(), len(v.data), v.mode)
	}
}

// absent is a path outside the cache that must not come to exist.
func absent(t *testing.T) string { return filepath.Join(t.TempDir(), "must-not-exist") }

func checkAbsent(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); err == nil {
		t.Fatalf("pcache created %s outside the cache", p)
	}
}

func plantedVal(x int) string { return fmt.Sprintf("planted value %d", x) }

// plantedRun opens the cache, calls keys 0..n-1 twice (a miss, then a hit
// or a recomputation), checks every value and that no call took longer
// than limit, and returns the store's stats and log.
func plantedRun(t *testing.T, dir string, n int, limit time.Duration, opts ...pcache.StoreOption) (pcache.Stats, string) {
	t.Helper()
	var logs testutil.LogBuffer
	opts = append([]pcache.StoreOption{pcache.LockWait(plantedWait), pcache.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}, opts...)
	done := make(chan struct{})
	var st pcache.Stats
	go func() {
		defer close(done)
		s, err := pcache.Open(dir, opts...)
		if err != nil {
			t.Errorf("Open: %v", err)
			return
		}
		defer s.Close()
		f, err := pcache.Wrap(s, "planted/f", func(_ context.Context, x int) (string, error) { return plantedVal(x), nil })
		if err != nil {
			t.Errorf("Wrap: %v", err)
			return
		}
		for round := 0; round < 2; round++ {
			for x := 0; x < n; x++ {
				ctx, cancel := context.WithTimeout(context.Background(), 4*limit)
				start := time.Now()
				got, err := f.Call(ctx, x)
				cancel()
				if took := time.Since(start); took > limit {
					t.Errorf("call %d (round %d) took %v, over %v", x, round, took, limit)
				}
				if err != nil || got != plantedVal(x) {
					t.Errorf("call %d (round %d) = %q, %v; want %q", x, round, got, err, plantedVal(x))
				}
			}
		}
		st = s.Stats()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("hung:\n%s", buf[:runtime.Stack(buf, true)])
	}
	return st, logs.String()
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mustFifo(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o666); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
}

func mustSparse(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(path, size); err != nil {
		t.Skipf("this file system cannot hold a sparse file of %d bytes: %v", size, err)
	}
}

// Item 3: files pcache opens for writing, and creates, are never followed
// through a symbolic link.
func TestPlantedSymlinksAreNotFollowed(t *testing.T) {
	t.Parallel()
	d := layout.New(t.TempDir())
	v := newVictim(t)
	var nowhere []string
	for _, p := range []string{d.GCIntent(), d.GCLock(), d.TrimLock(), d.TrimStamp()} {
		a := absent(t)
		nowhere = append(nowhere, a)
		mustSymlink(t, a, p) // dangling: O_CREAT must not create the target
	}
	mustSymlink(t, v.path, d.Board())        // the board is extended and written
	mustSymlink(t, v.path, d.KeyRangeLock()) // key locks
	st, logs := plantedRun(t, d.Root(), 4, 10*time.Second, pcache.MaxAge(time.Hour))
	v.check(t)
	for _, a := range nowhere {
		checkAbsent(t, a)
	}
	// gc.intent is a link: the turnstile cannot be passed, so results are
	// computed and returned, not stored.
	if st.Computes != 8 || st.StoreErrors == 0 {
		t.Fatalf("stats %+v: want 8 computations (nothing could be stored)", st)
	}
	if !strings.Contains(logs, "not a regular file") {
		t.Fatalf("the log does not say why nothing was stored:\n%s", logs)
	}
}

// Item 3 with the turnstile intact: the links at the board and the key
// locks cost those files only; results are stored and served.
func TestPlantedBoardAndKeyLinksStillStore(t *testing.T) {
	t.Parallel()
	d := layout.New(t.TempDir())
	v := newVictim(t)
	mustSymlink(t, v.path, d.Board())
	a := absent(t)
	mustSymlink(t, a, d.KeyRangeLock())
	mustSymlink(t, v.path, d.KeyLock([32]byte{})) // a flock file's place, too
	st, _ := plantedRun(t, d.Root(), 4, 10*time.Second)
	v.check(t)
	checkAbsent(t, a)
	if st.Computes != 4 || st.Hits != 4 {
		t.Fatalf("stats %+v: want 4 computations and 4 hits", st)
	}
}

// Items 3 and 8: a hard link to a group-only file at an object's path, or
// at the board, is never chmodded, truncated, extended or written.
func TestPlantedHardLinksAreNotModified(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := func(x int) string { return strings.Repeat(plantedVal(x), 1+(100<<10)/len(plantedVal(x))) } // a loose object
	s := openStore(t, dir)
	f := pcache.MustWrap(s, "planted/big", func(_ context.Context, x int) (string, error) { return big(x), nil })
	ctx := context.Background()
	mustCall(t, f, ctx, 1)
	s.Close()
	objs, _ := filepath.Glob(filepath.Join(dir, "objects", "[0-9a-f][0-9a-f]", "*"))
	if len(objs) != 1 {
		t.Fatalf("want one loose object, found %v", objs)
	}
	// The victim must be on the cache's file system to be linked.
	v := victim{path: filepath.Join(dir, "..", "victim-"+filepath.Base(dir)), data: []byte("group-only secret\n"), mode: 0o640}
	if err := os.WriteFile(v.path, v.data, 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(v.path, v.mode)
	t.Cleanup(func() { os.Remove(v.path) })
	if err := os.Remove(objs[0]); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{objs[0], layout.New(dir).Board()} {
		os.Remove(p)
		if err := os.Link(v.path, p); err != nil {
			t.Skipf("cannot hard-link here: %v", err)
		}
	}
	s = openStore(t, dir)
	f = pcache.MustWrap(s, "planted/big", func(_ context.Context, x int) (string, error) { return big(x), nil })
	for range 2 {
		if got := mustCall(t, f, ctx, 1); got != big(1) {
			t.Fatal("wrong value")
		}
	}
	v.check(t)
	if st := s.Stats(); st.Computes != 1 || st.Hits != 1 {
		t.Fatalf("stats %+v: want the damaged entry computed once, then a hit", st)
	}
}

// Item 4: a FIFO where a file is expected never blocks.
func TestPlantedFifosDoNotBlock(t *testing.T) {
	t.Parallel()
	d := layout.New(t.TempDir())
	for _, p := range []string{d.Board(), d.KeyRangeLock(), d.TrimStamp(), d.TrimLock(), d.KeyLock([32]byte{1})} {
		mustFifo(t, p)
	}
	mustFifo(t, filepath.Join(d.Manifest("planted/f"), layout.JournalName("fifo.1.0")))
	mustFifo(t, filepath.Join(d.Manifest("planted/f"), layout.SegmentName(make([]byte, 32))))
	mustFifo(t, filepath.Join(d.Packs(), layout.PackName("fifo.1.0")))
	st, _ := plantedRun(t, d.Root(), 4, 10*time.Second, pcache.MaxAge(time.Hour))
	if st.Computes != 4 || st.Hits != 4 {
		t.Fatalf("stats %+v: want 4 computations and 4 hits", st)
	}
	if _, err := manifest.Check(d, "planted/f"); err != nil {
		t.Fatalf("Check beside fifos: %v", err)
	}
}

// Item 4: sparse giant files (1 TiB, no blocks) are damage, refused before
// anything of their size is allocated, by calls and by Check. It runs in a
// process of its own (testutil.Alone): the bound reads the whole process's
// allocations, which other tests would add to.
func TestPlantedSparseFiles(t *testing.T) {
	if !testutil.Alone(t) {
		return
	}
	d := layout.New(t.TempDir())
	const huge = 1 << 40
	mdir := d.Manifest("planted/f")
	mustSparse(t, filepath.Join(mdir, layout.JournalName("sparse.1.0")), huge)
	mustSparse(t, filepath.Join(mdir, layout.SegmentName(bytes.Repeat([]byte{7}, 32))), huge)
	mustSparse(t, filepath.Join(d.Packs(), layout.PackName("sparse.1.0")), huge)
	mustSparse(t, filepath.Join(d.Packs(), layout.PackIndexName(layout.PackName("sparse.1.0"))), huge)

	// A record naming a 1 TiB object for key 1, whose file is 1 TiB of holes.
	s := openStore(t, d.Root())
	f := pcache.MustWrap(s, "planted/f", func(_ context.Context, x int) (string, error) { return plantedVal(x), nil })
	var id [32]byte
	copy(id[:], bytes.Repeat([]byte{0xab}, 32))
	x := hex.EncodeToString(id[:])
	mustSparse(t, filepath.Join(d.Objects(), x[:2], x[2:]), huge)
	forge(t, d.Root(), f, 1, record.Entry{Result: id, Size: huge, Codec: "cbor"})
	s.Close()

	var st pcache.Stats
	var ps []manifest.Problem
	var err error
	alloc := testutil.Allocated(func() {
		st, _ = plantedRun(t, d.Root(), 4, 10*time.Second)
		ps, err = manifest.Check(d, "planted/f")
	})
	if alloc > 64<<20 {
		t.Fatalf("%d MiB allocated beside sparse files", alloc>>20)
	}
	if st.Computes != 4 || st.Hits != 4 {
		t.Fatalf("stats %+v: want 4 computations and 4 hits", st)
	}
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	found := 0
	for _, p := range ps {
		if strings.Contains(p.Detail, "sparse") {
			found++
		}
	}
	if found < 2 {
		t.Fatalf("Check does not report both sparse manifest files: %v", ps)
	}
}

// Item 8: a directory at locks/keys.ofd costs the byte-range locks, not
// the calls: they compute, store and hit.
func TestPlantedDirectoryAtKeyLocks(t *testing.T) {
	t.Parallel()
	d := layout.New(t.TempDir())
	if err := os.MkdirAll(d.KeyRangeLock(), 0o777); err != nil {
		t.Fatal(err)
	}
	st, _ := plantedRun(t, d.Root(), 4, 10*time.Second)
	if st.Computes != 4 || st.Hits != 4 || st.StoreErrors != 0 {
		t.Fatalf("stats %+v: want 4 computations, 4 hits, no store errors", st)
	}
}

// holdLockWorker locks PCACHE_TEST_LOCK (the whole file: a POSIX record
// lock with PCACHE_TEST_LOCKKIND=posix, else an exclusive flock), says
// "locked", and holds it until its stdin closes.
func holdLockWorker() int {
	path := os.Getenv("PCACHE_TEST_LOCK")
	os.MkdirAll(filepath.Dir(path), 0o777)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv("PCACHE_TEST_LOCKKIND") == "posix" {
		err = syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 0})
	} else {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	os.Stdin.Read(make([]byte, 1)) // until the test closes our stdin
	return 0
}

// holdLock starts a child process holding the lock at path.
func holdLock(t *testing.T, path, kind string) int {
	t.Helper()
	cmd := testutil.Worker("holdlock", "PCACHE_TEST_LOCK="+path, "PCACHE_TEST_LOCKKIND="+kind)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 7)
	if n, err := out.Read(buf); err != nil || string(buf[:n]) != "locked\n" {
		t.Fatalf("lock holder said %q, %v", buf[:n], err)
	}
	return cmd.Process.Pid
}

// Item 4: a lock held forever by another process costs one call the lock
// wait (LockWait); the log names the holder; values stay right.
func TestPlantedHeldLocks(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("byte-range key locks and /proc/locks are Linux's")
	}
	t.Run("every key", func(t *testing.T) {
		t.Parallel()
		d := layout.New(t.TempDir())
		pid := holdLock(t, d.KeyRangeLock(), "posix")
		start := time.Now()
		st, logs := plantedRun(t, d.Root(), 4, plantedWait+5*time.Second)
		if took := time.Since(start); took > 4*plantedWait+10*time.Second {
			t.Fatalf("8 calls took %v: every call waited", took)
		}
		if st.Computes != 4 || st.Hits != 4 {
			t.Fatalf("stats %+v: want 4 computations (stored without the lock) and 4 hits", st)
		}
		if !strings.Contains(logs, fmt.Sprintf("process %d", pid)) {
			t.Fatalf("the log does not name the holder (pid %d):\n%s", pid, logs)
		}
	})
	t.Run("gc turnstile", func(t *testing.T) {
		t.Parallel()
		d := layout.New(t.TempDir())
		pid := holdLock(t, d.GCIntent(), "flock")
		st, logs := plantedRun(t, d.Root(), 4, plantedWait+5*time.Second)
		if st.Computes != 8 || st.StoreErrors == 0 {
			t.Fatalf("stats %+v: want 8 computations, none stored", st)
		}
		if !strings.Contains(logs, fmt.Sprintf("process %d", pid)) {
			t.Fatalf("the log does not name the holder (pid %d):\n%s", pid, logs)
		}
	})
	t.Run("maintenance", func(t *testing.T) {
		t.Parallel()
		d := layout.New(t.TempDir())
		s := openStore(t, d.Root())
		var n atomic.Int64
		f := pcache.MustWrap(s, "planted/f", func(_ context.Context, x int) (string, error) { n.Add(1); return plantedVal(x), nil })
		mustCall(t, f, context.Background(), 1)
		holdLock(t, d.ManifestLock("planted/f"), "flock")
		// Calls go on beside a held maintenance lock.
		if got := mustCall(t, f, context.Background(), 1); got != plantedVal(1) || n.Load() != 1 {
			t.Fatalf("hit beside a held maintenance lock: %q after %d computations", got, n.Load())
		}
	})
}
