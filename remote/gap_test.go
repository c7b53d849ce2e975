package remote

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pcache/pcache/manifest/record"
)

// TestReaderStepsOverALogGap (issue 22, item 10): one log entry deleted
// (by hand, or by a gc bug) does not hide the entries after it from a
// fresh reader.
func TestReaderStepsOverALogGap(t *testing.T) {
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
