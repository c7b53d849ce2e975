//go:build linux

package torture_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// smallTmpfs mounts a tmpfs of the given size at a new directory and
// unmounts it in Cleanup. It skips the test unless it runs as root and the
// mount succeeds.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the disk-full test mounts a small tmpfs, which needs root; skipping")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s); skipping the disk-full test", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// freeBytes is what an unprivileged writer can still allocate under path.
func freeBytes(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize) // Bsize is uint32 on darwin
}

// fill writes a ballast file until the file system is full, then gives back
// leave bytes (rounded to pages by tmpfs).
func fill(t *testing.T, path string, leave int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	var n int64
	for {
		k, err := f.Write(chunk)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(max(0, n-leave)); err != nil {
		t.Fatal(err)
	}
}

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) && strings.Contains(err.Error(), "no space left on device")
}

type fullArgs struct {
	N   int // result size
	Tag string
}

func fullValue(a fullArgs) []byte {
	return bytes.Repeat([]byte(a.Tag+"."), a.N/(len(a.Tag)+1)+1)[:a.N]
}

// TestDiskFull stores results on a 2 MiB tmpfs: a result that does not fit
// fails with an error that errors.Is ENOSPC and says "no space left on
// device"; so do concurrent callers of the same key and an out file that
// cannot be stored; hits keep working on the full disk; once space is freed
// the same key in the same process computes and stores (its flight and key
// lock were released); a sweep of the free space from 0 to 64 KiB makes
// every stage of a store (object, journal creation, journal append) meet
// ENOSPC, and after each the cache is consistent; at the end gc leaves it
// clean. (The checks of the sweep and of the journal run pcache-fsck check
// in this process, libFsckCheck; gc and the check after it, the binary.
// Each check waits for the store's shared hold of the gc lock, which a
// process keeps for lock.IdleHold after its last write.) It runs in a
// process of its own (testutil.Alone): a child that a parallel test forks
// while the ballast is open would hold the ballast until it execs, so
// deleting the ballast would not free its space at once.
func TestDiskFull(t *testing.T) {
	if !testutil.Alone(t) {
		return
	}
	e := newDiskFull(t)
	small := fullArgs{N: 4 << 10, Tag: "small"}
	if err := e.call(t, small); err != nil {
		t.Fatal(err)
	}
	mid := fullArgs{N: 64 << 10, Tag: "mid"}
	diskFullErrors(t, e, small, mid)
	diskFullDefaultOptions(t, e, mid)
	g, outDir := diskFullOutFile(t, e)
	diskFullFreed(t, e, mid, g, outDir)
	diskFullSweep(t, e, small, mid)
	diskFullJournal(t, e, small)

	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	if code, out := fsck(t, "gc", "-grace", "0s", "-dir", e.dir); code != 0 {
		t.Fatalf("gc: %d\n%s", code, out)
	}
	if code, rep := fsckCheck(t, e.dir, "-grace", "0s"); code != 0 || len(rep.Findings) > 0 {
		t.Fatalf("after gc, check is not clean (exit %d):\n%s", code, rep)
	}
}

// diskFull is TestDiskFull's cache on a small tmpfs: the mount, the cache
// directory in it, the ballast file that fills the rest, the store (which
// returns store errors) and its function full/f, which counts its
// computations by argument.
type diskFull struct {
	mnt, dir, ballast string
	s                 *pcache.Store
	f                 *pcache.Func[fullArgs, []byte]
	ctx               context.Context

	mu       sync.Mutex
	computed map[fullArgs]int
}

// newDiskFull mounts a 2 MiB tmpfs (or skips the test) and opens the cache
// on it, closed in Cleanup.
func newDiskFull(t *testing.T) *diskFull {
	mnt := smallTmpfs(t, "2m")
	e := &diskFull{mnt: mnt, dir: filepath.Join(mnt, "cache"), ballast: filepath.Join(mnt, "ballast"),
		ctx: context.Background(), computed: map[fullArgs]int{}}
	// ReturnStoreErrors: this test reads the errors a full disk causes (by
	// default a call returns its computed result and only counts and logs
	// the failure; see diskFullDefaultOptions).
	s, err := pcache.Open(e.dir, pcache.Durable(), pcache.ReturnStoreErrors(), pcache.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.s = s
	e.f = pcache.MustWrap(s, "full/f", func(_ context.Context, a fullArgs) ([]byte, error) {
		e.mu.Lock()
		e.computed[a]++
		e.mu.Unlock()
		return fullValue(a), nil
	})
	return e
}

// call calls full/f on a, fails the test on a wrong value, and returns the
// call's error.
func (e *diskFull) call(t *testing.T, a fullArgs) error {
	t.Helper()
	v, err := e.f.Call(e.ctx, a)
	if err == nil && !bytes.Equal(v, fullValue(a)) {
		t.Fatalf("%+v: wrong value", a)
	}
	return err
}

// mustHit fails the test unless full/f serves a's right value from the
// cache.
func (e *diskFull) mustHit(t *testing.T, a fullArgs) {
	t.Helper()
	v, err := e.f.Call(pcache.ErrorOnMiss(e.ctx), a)
	if err != nil || !bytes.Equal(v, fullValue(a)) {
		t.Fatalf("%+v does not hit: %v", a, err)
	}
}

// diskFullErrors checks that a result larger than the whole file system,
// and a key that 8 callers call at once on a full disk (the ballast fills
// it, and stays), fail with the disk-full error, while small keeps hitting.
func diskFullErrors(t *testing.T, e *diskFull, small, mid fullArgs) {
	huge := fullArgs{N: 3 << 20, Tag: "huge"}
	err := e.call(t, huge)
	if !isDiskFull(err) {
		t.Fatalf("storing 3 MiB on a 2 MiB file system: %v; want an error that errors.Is ENOSPC and says so", err)
	}
	t.Logf("the error: %v", err)
	e.mustHit(t, small)

	// A full disk, many callers of one key.
	fill(t, e.ballast, 0)
	t.Logf("filled: %d bytes free", freeBytes(t, e.mnt))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = e.f.Call(e.ctx, mid) })
	}
	wg.Wait()
	for i, err := range errs {
		if !isDiskFull(err) {
			t.Fatalf("caller %d on a full disk: %v", i, err)
		}
	}
	e.mustHit(t, small)
}

// diskFullDefaultOptions checks that with the default options a full disk
// never costs a computed result: the call returns it with a nil error; the
// failure is counted and logged at warn.
func diskFullDefaultOptions(t *testing.T, e *diskFull, mid fullArgs) {
	var logged bytes.Buffer
	def, err := pcache.Open(e.dir, pcache.Durable(), pcache.WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	if err != nil {
		t.Fatal(err)
	}
	d := pcache.MustWrap(def, "full/default", func(_ context.Context, a fullArgs) ([]byte, error) { return fullValue(a), nil })
	if v, err := d.Call(e.ctx, mid); err != nil || !bytes.Equal(v, fullValue(mid)) {
		t.Fatalf("default store on a full disk: %v (value right: %v); want the value and no error", err, bytes.Equal(v, fullValue(mid)))
	}
	if st := d.Stats(); st.StoreErrors != 1 || st.Stores != 0 || st.Computes != 1 {
		t.Fatalf("default store on a full disk: %+v; want 1 store error", st)
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "no space left on device") {
		t.Fatalf("the store failure was not logged at warn:\n%s", logged.String())
	}
	def.Close()
}

// fullOutArgs are the arguments of full/out, a function with an out file.
type fullOutArgs struct {
	X   int
	Out string `pcache:",out"`
}

// diskFullOutFile checks that a call whose out file's contents cannot be
// stored on the full disk fails with the disk-full error. It returns the
// function, full/out, and the directory (on the ordinary disk) its out
// file is written in.
func diskFullOutFile(t *testing.T, e *diskFull) (*pcache.Func[fullOutArgs, int], string) {
	outDir := t.TempDir() // on the ordinary disk: the function itself can write
	g := pcache.MustWrap(e.s, "full/out", func(_ context.Context, a fullOutArgs) (int, error) {
		return a.X, os.WriteFile(a.Out, bytes.Repeat([]byte("o"), 100<<10), 0o644)
	})
	if _, err := g.Call(e.ctx, fullOutArgs{X: 1, Out: filepath.Join(outDir, "o")}); !isDiskFull(err) {
		t.Fatalf("out file on a full disk: %v", err)
	}
	return g, outDir
}

// diskFullFreed deletes the ballast and checks that the keys that failed,
// in the same process, compute and store: mid's call does not hang (its
// flight and key lock were released), computes once more and then hits,
// and the out file of full/out stores.
func diskFullFreed(t *testing.T, e *diskFull, mid fullArgs, g *pcache.Func[fullOutArgs, int], outDir string) {
	e.mu.Lock()
	failedComputes := e.computed[mid] // 1 to 8: callers arriving after a failure compute again
	e.mu.Unlock()
	if err := os.Remove(e.ballast); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.call(t, mid) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after freeing space: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a call on a key that failed with ENOSPC hangs: its flight or key lock was not released")
	}
	e.mustHit(t, mid)
	if _, err := g.Call(e.ctx, fullOutArgs{X: 1, Out: filepath.Join(outDir, "o")}); err != nil {
		t.Fatalf("out file after freeing space: %v", err)
	}
	if n := e.computed[mid]; n != failedComputes+1 {
		t.Errorf("the key that failed was computed %d times after %d failed stores; want one more", n, failedComputes)
	}
}

// diskFullSweep leaves from 0 to 64 KiB free and stores a 20 KiB result
// under a new key each time. Each attempt stores or fails with ENOSPC;
// either way the cache is consistent, hits keep working, and a stored key
// hits. It requires both outcomes over the sweep.
func diskFullSweep(t *testing.T, e *diskFull, small, mid fullArgs) {
	stored, full := 0, 0
	stages := map[string]int{}
	for leave := int64(0); leave <= 64<<10; leave += 4 << 10 {
		fill(t, e.ballast, leave)
		a := fullArgs{N: 20 << 10, Tag: fmt.Sprintf("sweep%d", leave)}
		switch err := e.call(t, a); {
		case err == nil:
			stored++
			e.mustHit(t, a)
		case isDiskFull(err):
			full++
			stage := "other"
			for _, st := range []string{"store result", "commit"} {
				if strings.Contains(err.Error(), st) {
					stage = st
				}
			}
			stages[stage]++
			if ok, err := e.f.Contains(e.ctx, a); err != nil || ok {
				t.Fatalf("%d bytes free: a store that failed left an entry (%v, %v)", leave, ok, err)
			}
		default:
			t.Fatalf("%d bytes free: %v", leave, err)
		}
		e.mustHit(t, small)
		e.mustHit(t, mid)
		if code, rep := libFsckCheck(t, e.dir, time.Hour); code != 0 {
			t.Fatalf("%d bytes free: check exited %d:\n%s", leave, code, rep)
		}
	}
	t.Logf("sweep of free space 0-64 KiB: %d stores succeeded, %d failed with ENOSPC (by stage: %v), cache consistent after each", stored, full, stages)
	if full == 0 || stored == 0 {
		t.Errorf("the sweep should see both outcomes")
	}
}

// diskFullJournal stores results that are already stored (so only the
// manifest needs space) under new keys. On a full disk the first one
// cannot create the function's journal; with one page free the journal is
// created, and once the disk is full again appends fill its last page
// until one fails. The failed append is cut back: every earlier record
// still reads, and check finds no torn tail; once space is freed the
// failed key stores and hits.
func diskFullJournal(t *testing.T, e *diskFull, small fullArgs) {
	ctx := e.ctx
	same := fullValue(small)
	j := pcache.MustWrap(e.s, "full/journal", func(_ context.Context, k int) ([]byte, error) {
		return same, nil
	})
	fill(t, e.ballast, 0)
	if _, err := j.Call(ctx, 0); !isDiskFull(err) || !strings.Contains(err.Error(), "commit") {
		t.Fatalf("creating a journal on a full disk: %v", err)
	}
	fill(t, e.ballast, 8<<10)
	if _, err := j.Call(ctx, 1); err != nil {
		t.Fatalf("creating a journal with 8 KiB free: %v", err)
	}
	fill(t, e.ballast, 0)
	failed := -1
	for k := 2; k < 10000 && failed < 0; k++ {
		if _, err := j.Call(ctx, k); err != nil {
			if !isDiskFull(err) || !strings.Contains(err.Error(), "commit") {
				t.Fatalf("append %d on a full disk: %v", k, err)
			}
			failed = k
		}
	}
	if failed < 0 {
		t.Fatal("10,000 appends on a full disk all succeeded")
	}
	for k := 1; k < failed; k++ {
		if v, err := j.Call(pcache.ErrorOnMiss(ctx), k); err != nil || !bytes.Equal(v, same) {
			t.Fatalf("key %d, appended before the failed append %d, does not hit: %v", k, failed, err)
		}
	}
	if ok, err := j.Contains(ctx, failed); ok || err != nil {
		t.Fatalf("the failed append left an entry: %v, %v", ok, err)
	}
	if code, rep := libFsckCheck(t, e.dir, time.Hour); code != 0 {
		t.Fatalf("after a failed append, check exited %d:\n%s", code, rep)
	}
	os.Remove(e.ballast)
	if _, err := j.Call(ctx, failed); err != nil {
		t.Fatalf("key %d after freeing space: %v", failed, err)
	}
	if v, err := j.Call(pcache.ErrorOnMiss(ctx), failed); err != nil || !bytes.Equal(v, same) {
		t.Fatalf("key %d does not hit after it was stored: %v", failed, err)
	}
	t.Logf("journal on a full disk: creation failed with ENOSPC; %d appends fit in the journal's last page, append %d failed and was cut back", failed-2, failed)
}
