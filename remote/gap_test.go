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
