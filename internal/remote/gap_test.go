package remote

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/manifest/record"
)

// TestReaderStepsOverALogGap (issue 22, item 10): one log entry deleted
// (by hand, or by a gc bug) does not hide the entries after it from a
// fresh reader.
func TestReaderStepsOverALogGap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newFileBackend(t)
	for n := range 5 {
		if _, _, _, err := publish(ctx, b, "f", []record.Entry{entry(n)}, 0, fmt.Sprint("w", n), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, logKey("f", 2)); err != nil {
		t.Fatal(err)
	}
	tier, _ := newTier(t, b, Options{ReadOnly: true})
	for n := range 5 {
		_, ok := tier.Lookup(ctx, "f", entry(n).KeyHash, false)
		if want := n != 1; ok != want { // entry 1 was in log entry 2
			t.Errorf("entry %d: found %v, want %v", n, ok, want)
		}
	}
}

// TestGCRemovesExpiredLeases: remote gc deletes leases nobody renewed for
// two lease lifetimes, and leaves a live one.
func TestGCRemovesExpiredLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newFileBackend(t)
	for _, k := range []string{leaseKey("f", [32]byte{1}), leaseKey("f", [32]byte{2})} {
		if err := putBytes(ctx, b, k, encode(leaseBody{Owner: "x", Expires: 1}.sealed()), true); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := GC(ctx, b, GCOptions{Now: time.Now().Add(time.Minute)})
	if err != nil || rep.DeletedOther != 0 {
		t.Fatalf("gc a minute later: %+v, %v (the leases are young)", rep, err)
	}
	rep, err = GC(ctx, b, GCOptions{Now: time.Now().Add(3 * leaseTTL)})
	if err != nil || rep.DeletedOther != 2 {
		t.Fatalf("gc later: %+v, %v, want both leases deleted", rep, err)
	}
}

// TestStaleMirrorFollowsAGC: a long-running reader whose mirror stopped
// at log entry 3 while a remote gc removed the log up to a newer checkpoint
// finds the checkpoint (within a minute) instead of taking the missing
// entry 4 for the end of the log for an hour.
func TestStaleMirrorFollowsAGC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newFileBackend(t)
	seq := uint64(0)
	pub := func(n int) {
		t.Helper()
		var err error
		if seq, _, _, err = publish(ctx, b, "f", []record.Entry{entry(n)}, seq, fmt.Sprint("w", n), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for n := range 3 {
		pub(n)
	}
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	tier, _ := newTier(t, b, Options{ReadOnly: true, Now: clock})
	if _, ok := tier.Lookup(ctx, "f", entry(2).KeyHash, false); !ok {
		t.Fatal("entry 2 not found")
	}
	for n := 3; n < 10; n++ {
		pub(n)
	}
	// What remote gc does: compact into a checkpoint, then delete the log
	// it covers (the test's entries name no objects, which gc would drop).
	st, err := loadState(ctx, b, "f", loadOptions{listed: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compact(ctx, b, st); err != nil {
		t.Fatal(err)
	}
	for n := uint64(1); n <= seq; n++ {
		if err := b.Delete(ctx, logKey("f", n)); err != nil {
			t.Fatal(err)
		}
	}
	pub(10)
	offset.Store(int64(2 * time.Minute)) // past the refresh period and the gap check's
	for _, n := range []int{5, 10} {
		if _, ok := tier.Lookup(ctx, "f", entry(n).KeyHash, false); !ok {
			t.Errorf("entry %d, published after the mirror's position and compacted by gc: not found", n)
		}
	}
}

// TestReaderFallsBackFromADamagedCheckpoint: when the checkpoint the head
// names is damaged, a new reader starts from the newest older one that
// reads, and the log after it, instead of seeing nothing.
func TestReaderFallsBackFromADamagedCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newFileBackend(t)
	seq := uint64(0)
	checkpointNow := func() {
		t.Helper()
		st, err := loadState(ctx, b, "f", loadOptions{listed: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := compact(ctx, b, st); err != nil {
			t.Fatal(err)
		}
	}
	for n := range 15 {
		var err error
		if seq, _, _, err = publish(ctx, b, "f", []record.Entry{entry(n)}, seq, fmt.Sprint("w", n), time.Now()); err != nil {
			t.Fatal(err)
		}
		if n == 9 || n == 14 {
			checkpointNow()
		}
	}
	// As remote gc leaves it: the log up to the newest checkpoint deleted.
	for n := uint64(1); n <= seq; n++ {
		if err := b.Delete(ctx, logKey("f", n)); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if seq, _, _, err = publish(ctx, b, "f", []record.Entry{entry(15)}, seq, "w15", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := putBytes(ctx, b, checkpointKey("f", 15), []byte("damaged"), false); err != nil {
		t.Fatal(err)
	}
	tier, _ := newTier(t, b, Options{ReadOnly: true})
	for n := range 16 {
		_, ok := tier.Lookup(ctx, "f", entry(n).KeyHash, false)
		// 10..14 were only in the damaged checkpoint: lost until repaired.
		if want := n < 10 || n == 15; ok != want {
			t.Errorf("entry %d behind a damaged checkpoint: found %v, want %v", n, ok, want)
		}
	}
}
