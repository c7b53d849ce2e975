package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/testutil"
	"github.com/pcache/pcache/internal/testutil/testcache"
)

// The tests drive pcache-fsck as a user would, through its arguments, output
// and exit status; the binary is built on first use (so fuzzing, which never
// runs it, does not build it).
func TestMain(m *testing.M) {
	os.Exit(testutil.Run(m))
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

// runCLI runs pcache-fsck with args and returns what it printed and its exit
// code. A run that names its cache with -dir, or asks for help with -h, runs
// the command in this process, through run as main calls it, with its own
// output buffers (a process start costs more than most commands on a test's
// small cache); every other run, and each run of execCLI, starts the built
// binary.
func runCLI(t testing.TB, args ...string) result {
	t.Helper()
	if slices.Contains(args, "-dir") || slices.Contains(args, "-h") {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		return result{stdout: out.String(), stderr: errb.String(), code: code}
	}
	return runCLIEnv(t, nil, args...)
}

// execCLI runs the built binary with args, for the tests that are about the
// process: its exit status, its CPU time, what it reads from its environment.
func execCLI(t testing.TB, args ...string) result {
	t.Helper()
	return runCLIEnv(t, nil, args...)
}

// runCLIEnv runs the built binary with env added to its environment (so that
// tests which set variables for it need not set them for the whole test
// process, and may run in parallel).
func runCLIEnv(t testing.TB, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// Never touch the user's cache: the default directory is an empty one.
	cmd.Env = append(os.Environ(), "PCACHE_DIR=", "XDG_CACHE_HOME="+t.TempDir(), "HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
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

// runCLICode is runCLI, failing the test unless the command exits with want.
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

// testCache is a cache written straight through cas and manifest, one file
// per object (tests damage them by hand).
type testCache = testcache.Cache

func newTestCache(t testing.TB) *testCache {
	t.Helper()
	return testcache.New(t, testcache.Loose)
}
