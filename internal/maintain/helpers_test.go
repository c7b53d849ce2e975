package maintain

import (
	"fmt"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// testCache writes entries straight through cas and manifest, the way the
// library does, so tests control exactly which objects exist.
type testCache struct {
	*Cache
	t     testing.TB
	store *cas.Store
}

func newTestCache(t testing.TB) *testCache {
	t.Helper()
	c, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := cas.Open(layout.New(c.Dir()), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &testCache{Cache: c, t: t, store: st}
}

// fill adds n entries "k<i>" → "value <i>" to name.
func (c *testCache) fill(name string, n int) []record.Entry {
	c.t.Helper()
	es := make([]record.Entry, n)
	for i := range es {
		val := []byte(fmt.Sprintf("value %d of %s", i, name))
		id, err := c.store.Put(val)
		if err != nil {
			c.t.Fatal(err)
		}
		key := fmt.Sprintf("k%d", i)
		es[i] = record.Entry{KeyHash: blake3.Sum256([]byte(key)), Key: []byte(key), Time: time.Now().UnixNano(),
			Result: id, Size: int64(len(val)), Codec: "raw"}
	}
	m, err := manifest.Open(layout.New(c.Dir()), name, manifest.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer m.Close()
	if err := m.Append(es...); err != nil {
		c.t.Fatal(err)
	}
	return es
}
