package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/testutil"
)

// TestPlantedLinksNeverLeadMaintenanceOutside: links planted where the cache
// keeps its own directories (objects/ to a private directory of files older
// than the grace period, lost+found/ to the same) make gc refuse, check
// exit 1 naming them and check -repair remove the links alone; no file
// outside the cache is deleted, moved or changed, and the cache works
// afterwards. (The maintenance library's test of the same name plants
// links at every directory of the cache.)
func TestPlantedLinksNeverLeadMaintenanceOutside(t *testing.T) {
	t.Parallel()
	links := []string{"objects", "lost+found"}
	c := newTestCache(t)
	c.Fill("f", 20, nil)
	outside, before := testutil.OutsideDir(t)
	for _, l := range links {
		p := filepath.Join(c.Dir, filepath.FromSlash(l))
		os.RemoveAll(p)
		if err := os.Symlink(outside, p); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, "gc", "-grace", "0s", "-dir", c.Dir)
	if r.code != exitProblems || !strings.Contains(r.stderr, "symbolic link") {
		t.Fatalf("gc beside planted links: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLICode(t, exitProblems, "check", "-dir", c.Dir)
	for _, l := range links {
		if !strings.Contains(r.stdout, "planted "+l+": is a symbolic link to "+outside) {
			t.Fatalf("check does not name %s:\n%s", l, r.stdout)
		}
	}
	runCLI(t, "check", "-repair", "-dir", c.Dir)
	if after := testutil.Snapshot(t, outside); after != before {
		t.Fatalf("maintenance changed files outside the cache:\nbefore\n%s\nafter\n%s", before, after)
	}
	for _, l := range links {
		if fi, err := os.Lstat(filepath.Join(c.Dir, filepath.FromSlash(l))); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			t.Fatalf("check -repair left the planted link %s", l)
		}
	}
	runCLI(t, "check", "-repair", "-dir", c.Dir) // entries whose objects were behind the link are dropped
	runCLICode(t, exitOK, "check", "-dir", c.Dir)
	runCLICode(t, exitOK, "gc", "-grace", "0s", "-dir", c.Dir)
	if after := testutil.Snapshot(t, outside); after != before {
		t.Fatalf("gc changed files outside the cache:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// TestChangingAnotherUsersCacheNeedsSafeDirectory: commands that change a
// cache refuse one owned by another user unless $PCACHE_SAFE_DIRECTORY
// names it; commands that only read do not ask.
func TestChangingAnotherUsersCacheNeedsSafeDirectory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a cache owned by another user")
	}
	c := newTestCache(t)
	c.Fill("f", 5, nil)
	filepath.Walk(c.Dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, 65534, 65534)
		}
		return nil
	})
	unset := []string{"PCACHE_SAFE_DIRECTORY="}
	for _, args := range [][]string{{"gc"}, {"check", "-repair"}, {"rm", "f"}} {
		r := runCLIEnv(t, unset, append(args, "-dir", c.Dir)...)
		if r.code != exitProblems || !strings.Contains(r.stderr, "owned by another user") || !strings.Contains(r.stderr, "PCACHE_SAFE_DIRECTORY") {
			t.Fatalf("%v on another user's cache: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	for _, args := range [][]string{{"check"}, {"gc", "-dry-run"}, {"ls"}} {
		if r := runCLIEnv(t, unset, append(args, "-dir", c.Dir)...); r.code != exitOK {
			t.Errorf("%v on another user's cache: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	if r := runCLIEnv(t, []string{"PCACHE_SAFE_DIRECTORY=" + c.Dir}, "gc", "-dir", c.Dir); r.code != exitOK {
		t.Errorf("gc with PCACHE_SAFE_DIRECTORY naming the cache: exit %d\n%s", r.code, r.stderr)
	}
}

// TestPlantedMarker: a FIFO at pcache.json is a damaged marker: no
// command hangs on it, check exits 1 naming it, ls refuses, check -repair
// replaces it. (The maintenance library's TestDamagedMarkers plants links
// and giant files there too.)
func TestPlantedMarker(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 3, nil)
	marker := filepath.Join(c.Dir, "pcache.json")
	os.Remove(marker)
	if err := testutil.Mkfifo(marker); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	r := runCLICode(t, exitProblems, "check", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "bad-marker") {
		t.Fatalf("check does not report the marker:\n%s", r.stdout)
	}
	runCLICode(t, exitProblems, "ls", "-dir", c.Dir)
	runCLICode(t, exitOK, "check", "-repair", "-dir", c.Dir)
	runCLICode(t, exitOK, "check", "-dir", c.Dir)
}
