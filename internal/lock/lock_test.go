package lock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/layout"
)

// short returns a context that ends soon: for waits that must not succeed.
func short(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func TestAcquireTryAndContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "x.lock")
	ctx := context.Background()
	a, err := Acquire(ctx, path, Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := Try(path, Exclusive); ok || err != nil {
		t.Fatalf("Try on a held lock: %v, %v", ok, err)
	}
	if _, err := Acquire(short(t), path, Shared); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire of a held lock: %v, want a deadline error", err)
	}
	a.Release()
	a.Release() // twice is harmless
	s1, err := Acquire(ctx, path, Shared)
	if err != nil {
		t.Fatal(err)
	}
	s2, ok, err := Try(path, Shared)
	if !ok || err != nil {
		t.Fatalf("two shared holders: %v, %v", ok, err)
	}
	// The abandoned wait above gets the lock when it is free and gives it
	// back at once: an exclusive holder gets in once the shared ones go.
	s1.Release()
	s2.Release()
	h, err := Acquire(ctx, path, Exclusive)
	if err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	h.Release()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o600 != 0o600 {
		t.Fatalf("lock file: %v %v", fi, err)
	}
}

func TestRemoveIfFree(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j.lock")
	h, err := Acquire(context.Background(), path, Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := RemoveIfFree(path); ok || err != nil {
		t.Fatalf("RemoveIfFree of a held lock: %v, %v", ok, err)
	}
	h.Release()
	if ok, err := RemoveIfFree(path); !ok || err != nil {
		t.Fatalf("RemoveIfFree of a free lock: %v, %v", ok, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("lock file still there: %v", err)
	}
}

func TestTurnstile(t *testing.T) {
	t.Parallel()
	d := layout.New(t.TempDir())
	ctx := context.Background()

	// Writers share; gc waits for them.
	w := NewTurnstile(d)
	if _, err := w.Enter(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Enter(ctx); err != nil { // a second writer joins the hold
		t.Fatal(err)
	}
	other := NewTurnstile(d) // another process's writer
	if _, err := other.Enter(ctx); err != nil {
		t.Fatalf("two writers must share: %v", err)
	}
	other.Leave()
	other.Close()
	if _, err := GC(short(t), d); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("gc beside a writer: %v, want a deadline error", err)
	}
	w.Leave()
	w.Leave()

	// With no writer inside, the hold lasts at most MaxHold: gc gets in.
	start := time.Now()
	release, err := GC(ctx, d)
	if err != nil {
		t.Fatalf("gc after the writers left: %v", err)
	}
	if waited := time.Since(start); waited > MaxHold+2*time.Second {
		t.Errorf("gc waited %v for an idle hold (MaxHold %v)", waited, MaxHold)
	}
	// gc holds it: new writers wait, and give up when their context ends.
	if _, err := w.Enter(short(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("writer during gc: %v, want a deadline error", err)
	}
	release()
	if _, err := w.Enter(ctx); err != nil {
		t.Fatalf("writer after gc: %v", err)
	}
	w.Leave()
	w.Leave() // an extra Leave is harmless
	w.Close()
}

// A hold its writers have left is let go after IdleHold, long before
// MaxHold: gc beside a process that stopped writing gets in. (MaxHold is
// made an hour here, so only the idle release can let gc in.)
func TestTurnstileLetsGoWhenIdle(t *testing.T) {
	t.Parallel()
	d := layout.New(t.TempDir())
	ctx := context.Background()
	w := NewTurnstile(d)
	w.maxHold = time.Hour
	defer w.Close()
	for round := range 2 { // the second round reuses the idle timer
		if _, err := w.Enter(ctx); err != nil {
			t.Fatal(err)
		}
		w.Leave()
		gcCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		release, err := GC(gcCtx, d)
		cancel()
		if err != nil {
			t.Fatalf("round %d: gc beside an idle hold: %v", round, err)
		}
		release()
	}
	// A writer inside keeps the hold however long it takes, even when the
	// idle time of the writer before it runs out meanwhile (gc's wait
	// outlasts IdleHold).
	if _, err := w.Enter(ctx); err != nil {
		t.Fatal(err)
	}
	w.Leave() // its idle timer runs from here
	if _, err := w.Enter(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := GC(short(t), d); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("gc beside a writer inside: %v, want a deadline error", err)
	}
	w.Leave()
}

// A writer that keeps committing cannot keep gc out: its hold drains after
// MaxHold, gc gets in between two commits, and the writer waits for gc.
func TestTurnstileDrainsForGC(t *testing.T) {
	t.Parallel()
	d := layout.New(t.TempDir())
	ctx := context.Background()
	w := NewTurnstile(d)
	defer w.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := w.Enter(ctx); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond) // a commit
			w.Leave()
		}
	})
	gcCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	release, err := GC(gcCtx, d)
	if err != nil {
		t.Fatalf("gc beside a busy writer: %v", err)
	}
	release()
	close(stop)
	wg.Wait()
}

// Goroutines queued behind one taking the hold honour their own contexts.
func TestTurnstileWaitersHonourContext(t *testing.T) {
	t.Parallel()
	d := layout.New(t.TempDir())
	ctx := context.Background()
	release, err := GC(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	w := NewTurnstile(d)
	defer w.Close()
	first := make(chan error, 1)
	go func() { _, err := w.Enter(ctx); first <- err }() // blocks behind gc, holding nothing
	var errs [4]error
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { _, errs[i] = w.Enter(short(t)) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("waiter %d: %v, want a deadline error", i, err)
		}
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("the first writer after gc: %v", err)
	}
	w.Leave()
}

func TestKeys(t *testing.T) {
	t.Parallel()
	for _, files := range []bool{false, true} {
		t.Run(map[bool]string{false: "native", true: "flock-files"}[files], func(t *testing.T) {
			d := layout.New(t.TempDir())
			ctx := context.Background()
			a, b := NewKeys(d, files), NewKeys(d, files) // two processes' (or Stores') locks
			defer a.Close()
			defer b.Close()
			k1, k2 := [32]byte{1}, [32]byte{2}
			unlock, err := a.Lock(ctx, k1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Lock(short(t), k1); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("another holder of a held key: %v, want a deadline error", err)
			}
			if _, err := a.Lock(short(t), k1); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the same Keys again for a held key: %v, want a deadline error", err)
			}
			unlock2, err := b.Lock(ctx, k2)
			if err != nil {
				t.Fatalf("another key is blocked: %v", err)
			}
			// A waiter is let in when the holder unlocks.
			got := make(chan error, 1)
			go func() {
				u, err := b.Lock(ctx, k1)
				if err == nil {
					u(true)
				}
				got <- err
			}()
			unlock(true)
			select {
			case err := <-got:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the waiter was not let in after unlock")
			}
			unlock2(false)
			again, err := a.Lock(ctx, k1)
			if err != nil {
				t.Fatalf("lock after release: %v", err)
			}
			again(true)
			files2, _ := filepath.Glob(filepath.Join(d.KeyLocks(), "*", "*"+layout.LockExt))
			if files && len(files2) != 1 { // k2's file stays: it was not committed
				t.Fatalf("lock files left: %v", files2)
			}
			if _, err := os.Stat(d.KeyRangeLock()); files == (err == nil) && rangeLocks {
				t.Fatalf("keys.ofd exists=%v with flock files=%v", err == nil, files)
			}
		})
	}
}
