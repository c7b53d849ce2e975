package pcache_test

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/keying"
	"github.com/pcache/pcache/manifest"
)

// forge appends a record for int argument x of function name, as a damaged
// or foreign cache might hold it.
func forge(t *testing.T, dir, name string, x int, e manifest.Entry) {
	t.Helper()
	plan, err := keying.Compile(reflect.TypeFor[int](), nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := plan.Key("", x)
	if err != nil {
		t.Fatal(err)
	}
	e.KeyHash, e.Key = k.Hash, k.Bytes
	m, err := manifest.Open(dir, name, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Append(e); err != nil {
		t.Fatal(err)
	}
}

func TestBadRecords(t *testing.T) {
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
	forge(t, dir, "t/bad", 1, manifest.Entry{Result: obj, Size: 999, Codec: "cbor"})
	// A record from a clock an hour ahead, pointing at a missing object: the
	// recomputed entry must still win afterwards.
	forge(t, dir, "t/bad", 2, manifest.Entry{Result: cas.Sum([]byte("gone")), Size: 4, Codec: "cbor", Time: time.Now().Add(time.Hour).UnixNano()})

	for _, step := range []struct {
		x       int
		compute int64
	}{{1, 2}, {0, 2}, {1, 2}, {2, 3}, {2, 3}, {0, 3}} {
		if got := mustCall(t, f, ctx, step.x); got != "shared result" || n.Load() != step.compute {
			t.Fatalf("key %d: %q after %d computations, want %d", step.x, got, n.Load(), step.compute)
		}
	}
}

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := pcache.CBOR.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
