package archive

import (
	"testing"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/maintain"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil/testcache"
)

// testCache is a new cache opened for maintenance, and raw, the same cache
// written straight through cas and manifest (small objects in packs), the
// way the library does, so tests control exactly which objects exist.
type testCache struct {
	*maintain.Cache
	raw *testcache.Cache
}

func newTestCache(t testing.TB) *testCache {
	t.Helper()
	c, err := maintain.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &testCache{Cache: c, raw: testcache.Open(t, c.Dir(), cas.Options{})}
}

// fill adds n entries "k<i>" → "value <i> of <name>" to name.
func (c *testCache) fill(name string, n int) []record.Entry { return c.raw.Fill(name, n, nil) }
