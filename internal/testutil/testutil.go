// Package testutil holds what pcache's tests share: the test knobs read from
// the environment, the tool binaries they build and run, the test binary
// re-executed as a worker or alone, file trees copied and compared,
// deterministic bytes, CPU time and allocation counts. Only tests import
// it, and it imports nothing of pcache's, so that any package's tests
// (internal ones too) may use it.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Soak reports whether PCACHE_SOAK asks for the long versions of the
// torture tests: set to anything but "", "0" or "false".
func Soak() bool {
	v := os.Getenv("PCACHE_SOAK")
	return v != "" && v != "0" && v != "false"
}

// Seed returns $PCACHE_TORTURE_SEED (to replay a failure) or a fresh seed,
// and logs it.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PCACHE_TORTURE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PCACHE_TORTURE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with PCACHE_TORTURE_SEED=%d)", seed, seed)
	return seed
}

var (
	toolsMu  sync.Mutex
	tools    = map[string]string{}
	toolsDir string
)

// Tool builds the command at pkg (a path relative to the module root, such
// as "cmd/pcache-fsck") once per test process and returns the binary's path.
// Call Cleanup from TestMain (Main does) to remove the binaries.
//
// The build goes to a directory of the user's cache kept between runs, one
// per checkout (sharedToolDir), locked while building: go build finds the
// binary it made last time up to date and links again only when the sources
// changed, where a link costs seconds of CPU in every test process that
// needs the tool. The process then runs its own hard link (or copy) of that
// binary, which a later build replacing the shared one never changes.
func Tool(t testing.TB, pkg string) string {
	t.Helper()
	bin, err := tool(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// toolEnv names the variable through which a process that built pkg's tool
// hands it to the test processes it starts (workers, tests run Alone): they
// link the parent's binary instead of asking go build again, which costs
// half a second of CPU even when the binary is up to date.
func toolEnv(pkg string) string {
	return "PCACHE_TEST_TOOL_" + strings.NewReplacer("/", "_", "-", "_", ".", "_").Replace(pkg)
}

// tool is Tool, returning the error it fails the test with.
func tool(pkg string) (string, error) {
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if p, ok := tools[pkg]; ok {
		return p, nil
	}
	if toolsDir == "" {
		d, err := os.MkdirTemp("", "pcache-tools-")
		if err != nil {
			return "", err
		}
		toolsDir = d
	}
	name := filepath.Base(pkg)
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	bin := filepath.Join(toolsDir, name)
	if from := os.Getenv(toolEnv(pkg)); from == "" || LinkExecutable(from, bin) != nil {
		if err := buildTool(pkg, bin); err != nil {
			return "", err
		}
	}
	tools[pkg] = bin
	os.Setenv(toolEnv(pkg), bin) // for the processes this one starts from now on
	return bin, nil
}

// buildTool builds the command at pkg and leaves it at bin: a link to the
// binary in the checkout's shared directory, where there is one.
func buildTool(pkg, bin string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	build := func(out string) error {
		cmd := exec.Command(goTool(), "build", "-o", out, "./"+pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", pkg, err, msg)
		}
		return nil
	}
	shared, unlock, ok := sharedToolDir(root)
	if !ok {
		return build(bin)
	}
	defer unlock()
	built := filepath.Join(shared, filepath.Base(bin))
	if err := build(built); err != nil {
		return err
	}
	if err := LinkExecutable(built, bin); err != nil {
		return fmt.Errorf("%s: %v", built, err)
	}
	return nil
}

// Cleanup removes the binaries Tool built for this process (not the shared
// build directory, which the next run reuses).
func Cleanup() {
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if toolsDir != "" {
		os.RemoveAll(toolsDir)
		toolsDir, tools = "", map[string]string{}
	}
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("testutil: no go.mod above the working directory")
		}
		d = parent
	}
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// GoEnv returns `go env key` of the toolchain Tool builds with.
func GoEnv(key string) (string, error) {
	out, err := exec.Command(goTool(), "env", key).Output()
	return strings.TrimSpace(string(out)), err
}

// GoList runs `go list args...` in the module's root and returns its lines.
func GoList(args ...string) ([]string, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(goTool(), append([]string{"list"}, args...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out)), nil
}
