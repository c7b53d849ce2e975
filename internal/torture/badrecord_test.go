package torture_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// forge appends a record for argument x of f, as a damaged or foreign cache
// might hold it.
func forge[R any](t *testing.T, dir string, f *pcache.Func[int, R], x int, e record.Entry) {
	t.Helper()
	e.KeyHash = parseKey(t, f, x)
	m, err := manifest.Open(layout.New(dir), f.Name(), manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Append(e); err != nil {
		t.Fatal(err)
	}
}

func TestBadRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir)
	var n atomic.Int64
	f := pcache.MustWrap(s, "t/bad", func(_ context.Context, x int) (string, error) {
		n.Add(1)
		return "shared result", nil
	})
	ctx := context.Background()
	mustCall(t, f, ctx, 0)
	obj := cas.Sum(mustEncode(t, "shared result"))

	// A record with the wrong size for a good object shared with key 0: key 1
	// recomputes, key 0 keeps hitting (its object is not quarantined).
	forge(t, dir, f, 1, record.Entry{Result: obj, Size: 999, Codec: "cbor"})
	// A record from a clock an hour ahead, pointing at a missing object: the
	// recomputed entry must still win afterwards.
	forge(t, dir, f, 2, record.Entry{Result: cas.Sum([]byte("gone")), Size: 4, Codec: "cbor", Time: time.Now().Add(time.Hour).UnixNano()})

	for _, step := range []struct {
		x       int
		compute int64
	}{{1, 2}, {0, 2}, {1, 2}, {2, 3}, {2, 3}, {0, 3}} {
		if got := mustCall(t, f, ctx, step.x); got != "shared result" || n.Load() != step.compute {
			t.Fatalf("key %d: %q after %d computations, want %d", step.x, got, n.Load(), step.compute)
		}
	}
}
