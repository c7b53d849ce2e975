package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/testutil"
)

// outsideDir makes a directory outside the cache holding old files (older
// than any grace period) and returns it with its snapshot.
func outsideDir(t *testing.T, name string) (string, string) {
	t.Helper()
	d := filepath.Join(t.TempDir(), name)
	os.MkdirAll(d, 0o700)
	old := time.Now().Add(-48 * time.Hour)
	for _, f := range []string{"thesis.tex", "id_ed25519", "passwd"} {
		p := filepath.Join(d, f)
		os.WriteFile(p, []byte("precious "+f), 0o600)
		os.Chtimes(p, old, old)
	}
	return d, testutil.Snapshot(t, d)
}

// TestPlantedLinksNeverLeadMaintenanceOutside: links planted where the cache
// keeps its own directories (tmp/ to a directory of files older than the
// grace period; objects/ to a private directory and lost+found/ to one the
// planter owns; an object fan-out directory) make gc refuse, check name
// them and check -repair remove the links alone; no file outside the cache
// is deleted, moved or changed, and the cache works afterwards.
func TestPlantedLinksNeverLeadMaintenanceOutside(t *testing.T) {
	cases := []struct {
		name  string
		links []string // cache-relative paths made links to the outside directory
	}{
		{"tmp", []string{"tmp"}},
		{"objects and lost+found", []string{"objects", "lost+found"}},
		{"an object fan-out directory", []string{"objects/ab"}},
		{"locks", []string{"locks"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t)
			c.Fill("f", 20, nil)
			outside, before := outsideDir(t, "victim")
			for _, l := range tc.links {
				p := filepath.Join(c.Dir, filepath.FromSlash(l))
				os.RemoveAll(p)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.Symlink(outside, p); err != nil {
					t.Fatal(err)
				}
			}
			r := runCLI(t, "gc", "-grace", "0s", "-dir", c.Dir)
			if r.code == 0 || !strings.Contains(r.stderr, "symbolic link") {
				t.Fatalf("gc beside planted links: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			r = runCLICode(t, exitProblems, "check", "-dir", c.Dir)
			for _, l := range tc.links {
				if !strings.Contains(r.stdout, "planted "+l+": is a symbolic link to "+outside) {
					t.Fatalf("check does not name %s:\n%s", l, r.stdout)
				}
			}
			runCLI(t, "check", "-repair", "-dir", c.Dir)
			if after := testutil.Snapshot(t, outside); after != before {
				t.Fatalf("maintenance changed files outside the cache:\nbefore\n%s\nafter\n%s", before, after)
			}
			for _, l := range tc.links {
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
		})
	}
}

// TestChangingAnotherUsersCacheNeedsSafeDirectory: commands that change a
// cache refuse one owned by another user unless $PCACHE_SAFE_DIRECTORY
// names it; commands that only read do not ask.
func TestChangingAnotherUsersCacheNeedsSafeDirectory(t *testing.T) {
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
	t.Setenv("PCACHE_SAFE_DIRECTORY", "")
	for _, args := range [][]string{{"gc"}, {"check", "-repair"}, {"rm", "f"}} {
		r := runCLI(t, append(args, "-dir", c.Dir)...)
		if r.code != exitProblems || !strings.Contains(r.stderr, "owned by another user") || !strings.Contains(r.stderr, "PCACHE_SAFE_DIRECTORY") {
			t.Fatalf("%v on another user's cache: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	runCLICode(t, exitOK, "check", "-dir", c.Dir)
	runCLICode(t, exitOK, "gc", "-dry-run", "-dir", c.Dir)
	runCLICode(t, exitOK, "ls", "-dir", c.Dir)
	t.Setenv("PCACHE_SAFE_DIRECTORY", c.Dir)
	runCLICode(t, exitOK, "gc", "-dir", c.Dir)
}

// TestPlantedMarker: a FIFO, a link or a giant file at pcache.json is a
// damaged marker: no command hangs or follows it, check names it, check
// -repair replaces it, and the file a link pointed at is untouched.
func TestPlantedMarker(t *testing.T) {
	cases := []struct {
		name  string
		plant func(t *testing.T, p string)
	}{
		{"fifo", func(t *testing.T, p string) {
			if err := testutil.Mkfifo(p); err != nil {
				t.Skip("no FIFOs here:", err)
			}
		}},
		{"link", func(t *testing.T, p string) {
			outside, _ := outsideDir(t, "victim")
			os.Symlink(filepath.Join(outside, "passwd"), p)
		}},
		{"giant sparse file", func(t *testing.T, p string) {
			f, _ := os.Create(p)
			f.Truncate(1 << 40)
			f.Close()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t)
			c.Fill("f", 3, nil)
			marker := filepath.Join(c.Dir, "pcache.json")
			os.Remove(marker)
			tc.plant(t, marker)
			r := runCLICode(t, exitProblems, "check", "-dir", c.Dir)
			if !strings.Contains(r.stdout, "bad-marker") {
				t.Fatalf("check does not report the marker:\n%s", r.stdout)
			}
			runCLICode(t, exitProblems, "ls", "-dir", c.Dir)
			runCLI(t, "check", "-repair", "-dir", c.Dir)
			runCLICode(t, exitOK, "check", "-dir", c.Dir)
		})
	}
}
