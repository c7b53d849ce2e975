package lock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
)

// Every wait has a limit; a limit that ran out makes the next waits only
// try; a link or FIFO at a lock's path is refused, never followed.
func TestWaitLimits(t *testing.T) {
	t.Parallel()
	d := layout.New(t.TempDir())
	k := NewKeys(d, false)
	defer k.Close()
	k.SetWait(100 * time.Millisecond)
	other := NewKeys(d, false) // another holder (its own description)
	defer other.Close()
	var id [32]byte
	unlock, err := other.Lock(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock(false)
	start := time.Now()
	if _, err := k.Lock(context.Background(), id); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Lock of a held key: %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the wait took %v", took)
	}
	start = time.Now()
	if _, err := k.Lock(context.Background(), id); !errors.Is(err, ErrTimeout) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("a second Lock right after a timeout: %v after %v; want an immediate ErrTimeout", err, time.Since(start))
	}

	path := filepath.Join(t.TempDir(), "x.lock")
	h, err := Acquire(context.Background(), path, Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	var te *TimeoutError
	if _, err := AcquireWithin(context.Background(), path, Shared, 50*time.Millisecond); !errors.As(err, &te) {
		t.Fatalf("AcquireWithin a held lock: %v", err)
	}

	outside := filepath.Join(t.TempDir(), "nowhere")
	link := filepath.Join(t.TempDir(), "link.lock")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Try(link, Exclusive); !errors.Is(err, fsutil.ErrNotRegular) {
		t.Fatalf("Try through a dangling link: %v", err)
	}
	if _, err := os.Lstat(outside); err == nil {
		t.Fatal("the lock created the link's target")
	}
}
