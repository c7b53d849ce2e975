package pcache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestKeyLocks checks both kinds of per-key lock: a second holder of one key
// waits (here: gives up at its deadline) while a different key is free, and
// the flock file of a committed key is removed.
func TestKeyLocks(t *testing.T) {
	for _, portable := range []bool{false, true} {
		t.Run(map[bool]string{false: "native", true: "flock-files"}[portable], func(t *testing.T) {
			rangeLocksOff = portable
			defer func() { rangeLocksOff = false }()
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c := &core{s: s, name: "t/locks"}
			ctx := context.Background()
			k1, k2 := [32]byte{1}, [32]byte{2}
			unlock, err := c.lockKey(ctx, k1)
			if err != nil {
				t.Fatal(err)
			}
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if _, err := c.lockKey(short, k1); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("second lock of a held key: %v, want a deadline error", err)
			}
			unlock2, err := c.lockKey(ctx, k2)
			if err != nil {
				t.Fatalf("another key is blocked: %v", err)
			}
			unlock2(false)
			unlock(true)
			again, err := c.lockKey(ctx, k1)
			if err != nil {
				t.Fatalf("lock after release: %v", err)
			}
			again(true)
			files, _ := filepath.Glob(filepath.Join(s.Dir(), "locks", "keys", "*", "*.lock"))
			if portable && len(files) != 1 { // k2's file stays: it was not committed
				t.Fatalf("lock files left: %v", files)
			}
			if _, err := os.Stat(filepath.Join(s.Dir(), "locks", "keys.ofd")); portable == (err == nil) {
				t.Fatalf("keys.ofd exists=%v with portable=%v", err == nil, portable)
			}
		})
	}
}
