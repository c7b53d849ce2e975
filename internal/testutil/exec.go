package testutil

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// workerEnv names the worker a re-executed test binary runs (see Main).
const workerEnv = "PCACHE_TEST_WORKER"

// Main is a TestMain for a package whose tests start worker processes: when
// this process was started by Worker(kind, ...) it runs workers[kind] and
// exits with what it returns; otherwise it builds the tools BuildFirst
// named (unless a parent did), runs the tests, removes what Tool built, and
// exits.
func Main(m *testing.M, workers map[string]func() int) {
	if kind := os.Getenv(workerEnv); kind != "" {
		w, ok := workers[kind]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown worker", kind)
			os.Exit(2)
		}
		os.Exit(w())
	}
	for _, pkg := range buildFirst {
		tool(pkg) // an error fails the tests that call Tool
	}
	os.Exit(Run(m))
}

var buildFirst []string

// BuildFirst asks Main to build the tools at pkgs (see Tool) before the
// tests start, for a package whose tests run Alone and use them: the
// processes of their own then link this one's binaries rather than each
// asking go build.
func BuildFirst(pkgs ...string) { buildFirst = append(buildFirst, pkgs...) }

// WorkerEnv is the environment variable that makes this test binary (or a
// copy of it) the worker kind of the package's Main, for a test that
// starts the worker itself (as another user, say).
func WorkerEnv(kind string) string { return workerEnv + "=" + kind }

// Worker returns a command that runs this test binary as the worker kind of
// the package's Main, with env added to this process's environment and its
// standard error going to this process's.
func Worker(kind string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{WorkerEnv(kind)}, env...)...)
	cmd.Stderr = os.Stderr
	return cmd
}

// Rerun returns a command that runs this test binary again, running only
// the test called name (a top-level test, or a subtest as t.Name() writes
// it) once, with env added to this process's environment: the child of a
// test that is its own worker process (the test body tells the two apart
// by the environment).
func Rerun(name string, env ...string) *exec.Cmd {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// aloneEnv names the one test a re-executed test binary runs (see Alone).
const aloneEnv = "PCACHE_TEST_ALONE"

// Alone runs the calling test in a process of its own: this test binary
// again, running that test only. It returns true in that process, where
// the caller goes on with its body, and false in this one, where the test
// runs in parallel with the others (it calls t.Parallel) and reports what
// the other process did: passed, skipped or failed, with its output. It is
// for tests that need a process to themselves but should not make the
// others wait: those that read counters of the whole process
// (allocations), set environment variables (t.Setenv), or free disk space
// by deleting a file that a child forked meanwhile by another test would
// hold open until it execs. Call it first thing in the test.
func Alone(t *testing.T) bool {
	t.Helper()
	if os.Getenv(aloneEnv) == t.Name() {
		return true
	}
	t.Parallel()
	cmd := Rerun(t.Name(), aloneEnv+"="+t.Name())
	cmd.Args = append(cmd.Args, "-test.v")
	if testing.Short() {
		cmd.Args = append(cmd.Args, "-test.short")
	}
	if d, ok := t.Deadline(); ok {
		cmd.Args = append(cmd.Args, "-test.timeout="+time.Until(d).String())
	}
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Fatalf("%s in a process of its own: %v\n%s", t.Name(), err, out)
	case bytes.Contains(out, []byte("--- SKIP: "+t.Name()+" ")):
		t.Skipf("skipped in a process of its own:\n%s", out)
	case !bytes.Contains(out, []byte("--- PASS: "+t.Name()+" ")):
		t.Fatalf("%s in a process of its own did not pass:\n%s", t.Name(), out)
	default:
		t.Logf("in a process of its own:\n%s", out)
	}
	return false
}

// CopyExecutable copies the file src to dst (created or truncated) with
// mode perm, for a test that runs the copy. The copy is written under
// syscall.ForkLock: a child that a parallel test forks meanwhile would
// inherit the open destination until it execs, and running the copy would
// then fail with "text file busy".
func CopyExecutable(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, perm) // whatever the umask
}

// LinkExecutable makes dst a hard link to src, an executable everyone may
// run, or, where that cannot be (another file system, a file another user
// owns, a mode that not everyone may run), a copy of it with mode 0755
// (CopyExecutable). A link costs nothing and is never open for writing.
func LinkExecutable(src, dst string) error {
	if fi, err := os.Stat(src); err == nil && fi.Mode().Perm()&0o555 == 0o555 {
		if err := os.Link(src, dst); err == nil {
			return nil
		}
	}
	return CopyExecutable(src, dst, 0o755)
}

// MostlyWaiting raises the test binary's -test.parallel, unless its command
// line sets it, from GOMAXPROCS to 4×GOMAXPROCS. It is for a TestMain (call
// it before m.Run or Main) whose package's parallel tests mostly wait — on
// timers, on a remote's latency, on child processes, on a test running
// Alone — rather than compute: with as many slots as processors, a few
// waiting tests would hold them all while the processors idle.
func MostlyWaiting() {
	if !flag.Parsed() {
		flag.Parse()
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", strconv.Itoa(4*runtime.GOMAXPROCS(0)))
	}
}
