package torture_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// roArgs is the argument of the read-only test's function; Out is an out
// file.
type roArgs struct {
	X   int
	Out string `pcache:",out"`
}

func roFn(_ context.Context, a roArgs) (string, error) {
	return fmt.Sprint("x=", a.X), os.WriteFile(a.Out, []byte(fmt.Sprint("out ", a.X)), 0o644)
}

// TestReadOnlyCache opens, as another user, a cache it can read but not
// write (a team cache, another user's cache): hits are served and out files
// restored to writable paths, misses are computed and not stored, no call
// fails and nothing in the cache changes. The same holds for the ReadOnly
// option on a cache this process could write.
func TestReadOnlyCache(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "cache")
	s := openStore(t, dir)
	f := pcache.MustWrap(s, "ro/f", roFn)
	for x := 0; x < 3; x++ {
		if _, err := f.Call(context.Background(), roArgs{X: x, Out: filepath.Join(base, fmt.Sprint("w", x))}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	before := testutil.Snapshot(t, dir)

	t.Run("ReadOnly option", func(t *testing.T) {
		out := t.TempDir()
		if code := runReadOnly(dir, out, true); code != 0 {
			t.Fatalf("worker exited %d", code)
		}
		if after := testutil.Snapshot(t, dir); after != before {
			t.Fatalf("a read-only Store changed the cache:\nbefore\n%s\nafter\n%s", before, after)
		}
	})

	t.Run("another user", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to run a child as another user (CI runs as root)")
		}
		// The child runs as nobody: it can read and run what is world
		// readable, and write only its own directory.
		const nobody = 65534
		bin := filepath.Join(base, "bin")
		os.Mkdir(bin, 0o755)
		exe := filepath.Join(bin, "torture.test")
		if err := testutil.LinkExecutable(os.Args[0], exe); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{filepath.Dir(base), base} {
			os.Chmod(p, 0o755)
		}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		before := testutil.Snapshot(t, dir) // a new cache is private: opened to others above
		out := filepath.Join(base, "nobody")
		os.Mkdir(out, 0o755)
		os.Chown(out, nobody, nobody)
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), testutil.WorkerEnv("readonly"), "PCACHE_TEST_DIR="+dir, "PCACHE_TEST_OUT="+out, "PCACHE_TEST_FORCE=0")
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		if err := cmd.Run(); err != nil {
			t.Fatalf("worker as uid %d: %v", nobody, err)
		}
		if after := testutil.Snapshot(t, dir); after != before {
			t.Fatalf("another user's Store changed the cache:\nbefore\n%s\nafter\n%s", before, after)
		}
	})
}

func runReadOnly(dir, out string, force bool) int {
	cmd := testutil.Worker("readonly", "PCACHE_TEST_DIR="+dir, "PCACHE_TEST_OUT="+out, "PCACHE_TEST_FORCE="+strconv.FormatBool(force))
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 99
	}
	return 0
}

// readOnlyWorker checks, in a child process, what a read-only Store does.
func readOnlyWorker() int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "readonly worker: "+format+"\n", args...)
		return 1
	}
	var opts []pcache.StoreOption
	if os.Getenv("PCACHE_TEST_FORCE") == "true" {
		opts = append(opts, pcache.ReadOnly())
	}
	opts = append(opts, pcache.WithLogger(nil))
	s, err := pcache.Open(os.Getenv("PCACHE_TEST_DIR"), opts...)
	if err != nil {
		return fail("open: %v", err)
	}
	defer s.Close()
	if !s.ReadOnly() {
		return fail("the Store is not read-only")
	}
	out := os.Getenv("PCACHE_TEST_OUT")
	computed := 0
	f := pcache.MustWrap(s, "ro/f", func(ctx context.Context, a roArgs) (string, error) {
		computed++
		return roFn(ctx, a)
	})
	ctx := context.Background()
	for x := 0; x < 5; x++ { // 0-2 are stored, 3-4 are not
		p := filepath.Join(out, fmt.Sprint("o", x))
		got, err := f.Call(ctx, roArgs{X: x, Out: p})
		if err != nil || got != fmt.Sprint("x=", x) {
			return fail("call %d: %q, %v", x, got, err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != fmt.Sprint("out ", x) {
			return fail("out file %d: %q, %v", x, b, err)
		}
	}
	// A miss is not stored: it computes again.
	if _, err := f.Call(ctx, roArgs{X: 4, Out: filepath.Join(out, "again")}); err != nil {
		return fail("call again: %v", err)
	}
	st := f.Stats()
	if computed != 3 || st.Hits != 3 || st.StoreErrors != 0 || st.Stores != 0 {
		return fail("computed %d, stats %+v; want 3 computations (2 misses, one of them twice), 3 hits", computed, st)
	}
	if ok, err := f.Contains(ctx, roArgs{X: 1}); !ok || err != nil {
		return fail("Contains of a stored key: %v, %v", ok, err)
	}
	return 0
}
