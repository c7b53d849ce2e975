package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/testutil"
)

// Every command refuses a directory that is not a cache: exit 1 (the command
// line was fine; the help's convention keeps 2 for usage errors), naming the
// directory and how to point at a cache, and nothing is created, moved or
// deleted there.
func TestCommandsRefuseANonCache(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	for _, p := range []string{"tmp/old.txt", "objects/notes", "manifests/x/j-a.pcj", "lost+found/keep", "doc.txt"} {
		full := filepath.Join(home, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte("mine"), 0o644)
		os.Chtimes(full, old, old)
	}
	before := testutil.Snapshot(t, home)
	for _, args := range [][]string{
		{"check"}, {"check", "-repair"}, {"gc"}, {"gc", "-grace", "0s"}, {"stats"}, {"ls"}, {"ls", "x"},
		{"rm", "x"}, {"export", "x", filepath.Join(t.TempDir(), "x.tar")}, {"import", filepath.Join(t.TempDir(), "none.tar")},
	} {
		r := runCLICode(t, 1, append(args, "-dir", home)...)
		if !strings.Contains(r.stderr, home) || !strings.Contains(r.stderr, "not a cache directory") || !strings.Contains(r.stderr, "-dir") {
			t.Errorf("%v: stderr %q", args, r.stderr)
		}
		if after := testutil.Snapshot(t, home); after != before {
			t.Fatalf("%v changed a directory that is not a cache:\nbefore %s\nafter  %s", args, before, after)
		}
	}
	missing := filepath.Join(t.TempDir(), "nope")
	r := runCLICode(t, 1, "gc", "-dir", missing)
	if !strings.Contains(r.stderr, "does not exist") || strings.Count(r.stderr, "pcache-fsck") != 2 {
		t.Errorf("gc of a missing -dir: %q", r.stderr) // one prefix, and the init hint
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("gc of a missing -dir created it")
	}
	// init makes a cache of an empty or missing directory, never of one
	// with files in it.
	runCLICode(t, 1, "init", "-dir", home)
	runCLICode(t, 0, "init", "-dir", missing)
	runCLICode(t, 0, "check", "-dir", missing)
}

// import follows the one name rule.
func TestImportNameRule(t *testing.T) {
	t.Parallel()
	src := newTestCache(t)
	src.Fill("proj/f", 2, nil)
	tarPath := filepath.Join(t.TempDir(), "f.tar")
	runCLICode(t, 0, "export", "proj/f", tarPath, "-dir", src.Dir)
	dst := t.TempDir()
	runCLICode(t, 0, "init", "-dir", dst)
	for _, name := range []string{"my func", "a/../b", "con", "PROJ/f"} {
		if name == "PROJ/f" {
			runCLICode(t, 0, "import", tarPath, "-dir", dst) // proj/f now exists
		}
		r := runCLICode(t, 1, "import", tarPath, name, "-dir", dst)
		if !strings.Contains(r.stderr, "invalid function name") {
			t.Errorf("import as %q: %s", name, r.stderr)
		}
	}
}
