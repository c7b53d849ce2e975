package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/manifest"
	"github.com/zeebo/blake3"
)

// fsckBin is the pcache-fsck binary, built on first use (so fuzzing, which
// never runs it, does not build it); the tests drive it as a user would.
var (
	fsckBin   string
	buildOnce sync.Once
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds pcache-fsck into a temporary directory once per test
// process and returns its path.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "pcache-fsck-test")
		if buildErr != nil {
			return
		}
		fsckBin = filepath.Join(binDir, "pcache-fsck")
		if runtime.GOOS == "windows" {
			fsckBin += ".exe"
		}
		out, err := exec.Command(goTool(), "build", "-o", fsckBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return fsckBin
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
	cpu            time.Duration // user + system CPU time of the process
}

// fsck runs the binary with args and returns what it printed and its exit code.
func fsck(t testing.TB, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "PCACHE_DIR=") // never touch the user's cache
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
func fsckCode(t testing.TB, want int, args ...string) result {
	t.Helper()
	r := fsck(t, args...)
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
	s, err := cas.Open(dir, cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &testCache{t: t, dir: dir, store: s}
}

func keyHash(key string) [32]byte { return blake3.Sum256([]byte(key)) }

// entry stores val as an object and returns an entry for key pointing to it.
func (c *testCache) entry(key string, val []byte) manifest.Entry {
	c.t.Helper()
	id, err := c.store.Put(val)
	if err != nil {
		c.t.Fatal(err)
	}
	return manifest.Entry{KeyHash: keyHash(key), Key: []byte(key), Time: time.Now().UnixNano(),
		Result: id, Size: int64(len(val)), Codec: "raw"}
}

// add appends entries to function name.
func (c *testCache) add(name string, es ...manifest.Entry) {
	c.t.Helper()
	m, err := manifest.Open(c.dir, name, manifest.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer m.Close()
	if err := m.Append(es...); err != nil {
		c.t.Fatal(err)
	}
}

// fill adds n entries "k<i>" → "value <i>" to name and returns them.
func (c *testCache) fill(name string, n int, val func(i int) []byte) []manifest.Entry {
	c.t.Helper()
	if val == nil {
		val = func(i int) []byte { return []byte(fmt.Sprintf("value %d of %s", i, name)) }
	}
	es := make([]manifest.Entry, n)
	for i := range es {
		es[i] = c.entry(fmt.Sprintf("k%d", i), val(i))
	}
	c.add(name, es...)
	return es
}

// hit reports whether key is served from the cache: the entry is live and
// its result object reads back verified.
func (c *testCache) hit(name, key string) bool {
	c.t.Helper()
	m, err := manifest.Open(c.dir, name, manifest.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer m.Close()
	e, ok, err := m.Lookup(keyHash(key))
	if err != nil || !ok {
		return false
	}
	b, err := c.store.Get(e.Result)
	return err == nil && int64(len(b)) == e.Size
}

// live returns the live entries of name by key hash, read in one pass.
func (c *testCache) live(name string) map[[32]byte]manifest.Entry {
	c.t.Helper()
	m, err := manifest.Open(c.dir, name, manifest.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer m.Close()
	out := map[[32]byte]manifest.Entry{}
	err = m.Iterate(func(e manifest.Entry) error {
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

// readsBack reports whether entry e's result object reads back verified.
func (c *testCache) readsBack(e manifest.Entry) bool {
	b, err := c.store.Get(e.Result)
	return err == nil && int64(len(b)) == e.Size
}

func (c *testCache) objectCount() int {
	c.t.Helper()
	n := 0
	if err := c.store.Walk(func(cas.ID, os.FileInfo) error { n++; return nil }); err != nil {
		c.t.Fatal(err)
	}
	return n
}
