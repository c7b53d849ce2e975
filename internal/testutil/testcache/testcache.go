// Package testcache writes pcache caches for tests straight through the
// object store and the manifests, the way the library does, so that a test
// controls exactly which entries and objects exist (and can then damage,
// check or collect them). Only tests import it.
package testcache

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// Loose opens the object store with every object in a file of its own, for
// tests that damage objects by hand.
var Loose = cas.Options{PackLimit: -1}

// Cache is a cache directory and its object store, open for writing.
type Cache struct {
	T     testing.TB
	Dir   string
	Store *cas.Store
}

// New makes a new, empty cache (its marker written) in a temporary
// directory of t and opens its object store with opts (the zero Options:
// small objects in packs; Loose: a file each).
func New(t testing.TB, opts cas.Options) *Cache {
	t.Helper()
	dir := t.TempDir()
	if err := layout.New(dir).WriteMarker(); err != nil {
		t.Fatal(err)
	}
	return Open(t, dir, opts)
}

// Open opens the object store of the cache at dir with opts.
func Open(t testing.TB, dir string, opts cas.Options) *Cache {
	t.Helper()
	s, err := cas.Open(layout.New(dir), opts)
	if err != nil {
		t.Fatal(err)
	}
	return &Cache{T: t, Dir: dir, Store: s}
}

// KeyHash is the key hash of an entry whose key is the bytes of key.
func KeyHash(key string) [32]byte { return blake3.Sum256([]byte(key)) }

// Value is what Fill stores for entry i of function name when given no
// values of its own.
func Value(name string, i int) []byte { return []byte(fmt.Sprintf("value %d of %s", i, name)) }

// Entry stores val as an object and returns an entry for key pointing to
// it (written now, codec raw).
func (c *Cache) Entry(key string, val []byte) record.Entry {
	c.T.Helper()
	id, err := c.Store.Put(val)
	if err != nil {
		c.T.Fatal(err)
	}
	return record.Entry{KeyHash: KeyHash(key), Key: []byte(key), Time: time.Now().UnixNano(),
		Result: id, Size: int64(len(val)), Codec: "raw"}
}

// Add appends entries to function name (one append: one record each).
func (c *Cache) Add(name string, es ...record.Entry) {
	c.T.Helper()
	m, err := manifest.Open(layout.New(c.Dir), name, manifest.Options{})
	if err != nil {
		c.T.Fatal(err)
	}
	defer m.Close()
	if err := m.Append(es...); err != nil {
		c.T.Fatal(err)
	}
}

// Fill adds n entries "k<i>" → val(i) to name (Value(name, i) when val is
// nil) and returns them.
func (c *Cache) Fill(name string, n int, val func(i int) []byte) []record.Entry {
	c.T.Helper()
	return c.FillAged(name, n, val, func(int) time.Duration { return 0 })
}

// FillAged is Fill with entry i written (and last used) ago(i) ago.
func (c *Cache) FillAged(name string, n int, val func(i int) []byte, ago func(i int) time.Duration) []record.Entry {
	c.T.Helper()
	if val == nil {
		val = func(i int) []byte { return Value(name, i) }
	}
	es := make([]record.Entry, n)
	for i := range es {
		es[i] = c.Entry(fmt.Sprintf("k%d", i), val(i))
		es[i].Time = time.Now().Add(-ago(i)).UnixNano()
	}
	c.Add(name, es...)
	return es
}

// Hit reports whether key is served from the cache: the entry is live and
// its result object reads back verified.
func (c *Cache) Hit(name, key string) bool {
	c.T.Helper()
	return c.Hits(name, key)[key]
}

// Hits is Hit for each of keys, reading the manifest once.
func (c *Cache) Hits(name string, keys ...string) map[string]bool {
	c.T.Helper()
	m, err := manifest.Open(layout.New(c.Dir), name, manifest.Options{})
	if err != nil {
		c.T.Fatal(err)
	}
	defer m.Close()
	hits := map[string]bool{}
	for _, key := range keys {
		e, ok, err := m.Lookup(KeyHash(key))
		if err != nil || !ok {
			hits[key] = false
			continue
		}
		b, err := c.Store.Get(e.Result, -1)
		hits[key] = err == nil && int64(len(b)) == e.Size
	}
	return hits
}

// Live returns the live entries of name by key hash, read in one pass.
func (c *Cache) Live(name string) map[[32]byte]record.Entry {
	c.T.Helper()
	m, err := manifest.Open(layout.New(c.Dir), name, manifest.Options{})
	if err != nil {
		c.T.Fatal(err)
	}
	defer m.Close()
	out := map[[32]byte]record.Entry{}
	err = m.Iterate(func(e record.Entry) error {
		if !e.Deleted {
			out[e.KeyHash] = e
		}
		return nil
	})
	if err != nil {
		c.T.Fatal(err)
	}
	return out
}

// ObjectCount counts the objects stored, loose and packed.
func (c *Cache) ObjectCount() int {
	c.T.Helper()
	n := 0
	if err := c.Store.WalkAll(cas.WalkFuncs{Object: func(cas.ID, os.FileInfo) error { n++; return nil }}); err != nil {
		c.T.Fatal(err)
	}
	return n
}

// Served returns the indexes of es (entries Fill wrote with its own values)
// that a fresh reader of the cache serves: the entry is live and its object
// reads back verified. A served value other than the one Fill stored fails
// the test.
func (c *Cache) Served(name string, es []record.Entry) map[int]bool {
	c.T.Helper()
	d := layout.New(c.Dir)
	s, err := cas.Open(d, cas.Options{ReadOnly: true})
	if err != nil {
		c.T.Fatal(err)
	}
	defer s.Close()
	m, err := manifest.Open(d, name, manifest.Options{ReadOnly: true})
	if err != nil {
		c.T.Fatal(err)
	}
	defer m.Close()
	got := map[int]bool{}
	for i, want := range es {
		e, ok, err := m.Lookup(want.KeyHash)
		if err != nil || !ok {
			continue
		}
		b, err := s.Get(e.Result, e.Size)
		if err != nil {
			continue
		}
		if v := Value(name, i); !bytes.Equal(b, v) {
			c.T.Fatalf("entry %d served %q, want %q", i, b, v)
		}
		got[i] = true
	}
	return got
}
