package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/maintain"
)

// The library's errors name fixes in its own terms; pcache-fsck prints the
// command that does them, once, in place of the library's words.
func TestErrorMessageTurnsFixesIntoCommands(t *testing.T) {
	t.Parallel()
	dir := "/tmp/a cache"
	de := &maintain.DamagedError{Dir: dir, Path: "manifests/f", Problem: "manifest f has 1 problem", Fix: maintain.FixRepair}
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("refusing to collect: %w", de),
			"refusing to collect: manifest f has 1 problem; run pcache-fsck check -repair -dir '/tmp/a cache'"},
		{&maintain.NoFunctionError{Dir: dir, Name: "g"},
			`no function named "g" in /tmp/a cache (pcache-fsck ls -dir '/tmp/a cache' lists them)`},
		{fmt.Errorf("key %q: %w", "xyz", maintain.ErrBadKeyPrefix),
			`key "xyz": want 4 to 64 lowercase hex digits of a key hash (see pcache-fsck ls NAME)`},
		{fmt.Errorf("object %q: %w", "zz", maintain.ErrBadObjectID),
			`object "zz": want the 64 hex digits of an object ID (pcache-fsck ls NAME -json prints them)`},
		{os.ErrNotExist, os.ErrNotExist.Error()},
	}
	for _, tc := range cases {
		if got := errorMessage(tc.err, "/elsewhere"); got != tc.want {
			t.Errorf("errorMessage(%v):\n got %s\nwant %s", tc.err, got, tc.want)
		}
	}
	for fix, want := range map[maintain.Fix]string{
		maintain.FixRepair: "pcache-fsck check -repair -dir '/tmp/a cache'",
		maintain.FixCheck:  "pcache-fsck check -dir '/tmp/a cache'",
		maintain.FixGC:     "pcache-fsck gc -dir '/tmp/a cache'",
	} {
		if got := fixCommand(fix, dir); got != want {
			t.Errorf("fixCommand(%q) = %s, want %s", fix, got, want)
		}
	}
}

// The commands print the advice the library's typed errors call for.
func TestCommandsAdviseOnLibraryErrors(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 2, nil)

	r := runCLICode(t, exitProblems, "ls", "nope", "-dir", c.Dir)
	if !strings.Contains(r.stderr, `no function named "nope"`) || !strings.Contains(r.stderr, "pcache-fsck ls -dir "+c.Dir+" lists them") {
		t.Errorf("ls of an unknown function:\n%s", r.stderr)
	}
	r = runCLI(t, "rm", "f", "-key", "xyz", "-dir", c.Dir)
	if r.code == 0 || !strings.Contains(r.stderr, "(see pcache-fsck ls NAME)") {
		t.Errorf("rm with a bad key: exit %d\n%s", r.code, r.stderr)
	}

	// A planted link: gc refuses, naming the repair as a command (JSON too).
	tmp := filepath.Join(c.Dir, layout.TmpDir)
	os.RemoveAll(tmp)
	if err := os.Symlink(t.TempDir(), tmp); err != nil {
		t.Fatal(err)
	}
	want := "pcache-fsck check -repair -dir " + c.Dir
	r = runCLICode(t, exitProblems, "gc", "-dir", c.Dir)
	if !strings.Contains(r.stderr, "symbolic link") || !strings.Contains(r.stderr, "; run "+want) || strings.Contains(r.stderr, "to fix:") {
		t.Errorf("gc beside a planted link:\n%s", r.stderr)
	}
	r = runCLICode(t, exitProblems, "gc", "-dir", c.Dir, "-json")
	var out struct {
		Error string   `json:"error"`
		Next  []string `json:"next"`
	}
	decodeJSON(t, r.stdout, &out)
	if out.Error == "" || len(out.Next) != 1 || out.Next[0] != want {
		t.Errorf("gc -json beside a planted link: %+v", out)
	}
	os.Remove(tmp)

	// check -json names the fix as the command, as check prints it.
	stray := filepath.Join(c.Dir, layout.ObjectsDir, "ab", "not-an-object")
	os.MkdirAll(filepath.Dir(stray), 0o755)
	os.WriteFile(stray, []byte("stray"), 0o644)
	r = runCLICode(t, exitProblems, "check", "-dir", c.Dir, "-json")
	var rep struct {
		Next []string `json:"next"`
	}
	decodeJSON(t, r.stdout, &rep)
	if len(rep.Next) != 1 || rep.Next[0] != want {
		t.Errorf("check -json beside a stray file: next %q, want %q", rep.Next, want)
	}
	os.Remove(stray)

	// init of a cache whose marker is damaged: it is one already.
	os.WriteFile(filepath.Join(c.Dir, layout.MarkerFile), []byte("zz"), 0o644)
	r = runCLICode(t, exitProblems, "init", "-dir", c.Dir)
	if !strings.Contains(r.stderr, "it is a cache already") || !strings.Contains(r.stderr, "; run "+want) {
		t.Errorf("init of a cache with a damaged marker:\n%s", r.stderr)
	}
}
