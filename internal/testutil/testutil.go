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
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if p, ok := tools[pkg]; ok {
		return p
	}
	if toolsDir == "" {
		d, err := os.MkdirTemp("", "pcache-tools-")
		if err != nil {
			t.Fatal(err)
		}
		toolsDir = d
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(pkg)
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	bin := filepath.Join(toolsDir, name)
	build := func(out string) {
		cmd := exec.Command(goTool(), "build", "-o", out, "./"+pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
	}
	if shared, unlock, ok := sharedToolDir(root); ok {
		func() {
			defer unlock()
			built := filepath.Join(shared, name)
			build(built)
			if err := LinkExecutable(built, bin); err != nil {
				t.Fatalf("%s: %v", built, err)
			}
		}()
	} else {
		build(bin)
	}
	tools[pkg] = bin
	return bin
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
