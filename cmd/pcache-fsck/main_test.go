package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil"
)

// The tests drive the pcache-fsck binary as a user would; it is built on
// first use (so fuzzing, which never runs it, does not build it).
func TestMain(m *testing.M) {
	code := m.Run()
	testutil.Cleanup()
	os.Exit(code)
}

// binary builds pcache-fsck once per test process and returns its path.
func binary(t testing.TB) string {
	t.Helper()
	return testutil.Tool(t, "cmd/pcache-fsck")
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
	cpu            time.Duration // user + system CPU time of the process
}

// fsck runs the binary with args and returns what it printed and its exit code.
func runCLI(t testing.TB, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// Never touch the user's cache: the default directory is an empty one.
	cmd.Env = append(os.Environ(), "PCACHE_DIR=", "XDG_CACHE_HOME="+t.TempDir(), "HOME="+t.TempDir())
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ps := cmd.ProcessState; ps != nil {
		r.cpu = ps.UserTime() + ps.SystemTime()
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run pcache-fsck %v: %v", args, err)
	}
	return r
}

// fsckOK runs the binary and fails the test unless it exits with want.
func runCLICode(t testing.TB, want int, args ...string) result {
	t.Helper()
	r := runCLI(t, args...)
	if r.code != want {
		t.Fatalf("pcache-fsck %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

func decodeJSON(t testing.TB, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
}

// testCache writes entries straight through cas and manifest, the way the
// library does, so tests control exactly which objects exist.
type testCache struct {
	t     testing.TB
	dir   string
	store *cas.Store
}

func newTestCache(t testing.TB) *testCache {
	t.Helper()
	dir := t.TempDir()
	if err := layout.New(dir).WriteMarker(); err != nil {
		t.Fatal(err)
	}
	s, err := cas.Open(layout.New(dir), cas.Options{PackLimit: -1}) // one file per object: tests damage them by hand
	if err != nil {
		t.Fatal(err)
	}
	return &testCache{t: t, dir: dir, store: s}
}

func keyHash(key string) [32]byte { return blake3.Sum256([]byte(key)) }

// entry stores val as an object and returns an entry for key pointing to it.
func (c *testCache) entry(key string, val []byte) record.Entry {
	c.t.Helper()
	id, err := c.store.Put(val)
	if err != nil {
		c.t.Fatal(err)
	}
	return record.Entry{KeyHash: keyHash(key), Key: []byte(key), Time: time.Now().UnixNano(),
		Result: id, Size: int64(len(val)), Codec: "raw"}
}

// add appends entries to function name.
func (c *testCache) add(name string, es ...record.Entry) {
	c.t.Helper()
	m, err := manifest.Open(layout.New(c.dir), name, manifest.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer m.Close()
	if err := m.Append(es...); err != nil {
		c.t.Fatal(err)
	}
}

// fill adds n entries "k<i>" → "value <i>" to name and returns them.
func (c *testCache) fill(name string, n int, val func(i int) []byte) []record.Entry {
	c.t.Helper()
	return c.fillAged(name, n, val, func(int) time.Duration { return 0 })
}

// fillAged is fill with entry i written (and last used) ago(i) ago.
func (c *testCache) fillAged(name string, n int, val func(i int) []byte, ago func(i int) time.Duration) []record.Entry {
	c.t.Helper()
	if val == nil {
		val = func(i int) []byte { return []byte(fmt.Sprintf("value %d of %s", i, name)) }
	}
	es := make([]record.Entry, n)
	for i := range es {
		es[i] = c.entry(fmt.Sprintf("k%d", i), val(i))
		es[i].Time = time.Now().Add(-ago(i)).UnixNano()
	}
	c.add(name, es...)
	return es
}

// hit reports whether key is served from the cache: the entry is live and
// its result object reads back verified.
func (c *testCache) hit(name, key string) bool {
	c.t.Helper()
	m, err := manifest.Open(layout.New(c.dir), name, manifest.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer m.Close()
	e, ok, err := m.Lookup(keyHash(key))
	if err != nil || !ok {
		return false
	}
	b, err := c.store.Get(e.Result, -1)
	return err == nil && int64(len(b)) == e.Size
}

// live returns the live entries of name by key hash, read in one pass.
func (c *testCache) live(name string) map[[32]byte]record.Entry {
	c.t.Helper()
	m, err := manifest.Open(layout.New(c.dir), name, manifest.Options{})
	if err != nil {
		c.t.Fatal(err)
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
		c.t.Fatal(err)
	}
	return out
}

func (c *testCache) objectCount() int {
	c.t.Helper()
	n := 0
	if err := c.store.WalkAll(cas.WalkFuncs{Object: func(cas.ID, os.FileInfo) error { n++; return nil }}); err != nil {
		c.t.Fatal(err)
	}
	return n
}
