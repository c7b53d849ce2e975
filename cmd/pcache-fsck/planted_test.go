package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// snapshot lists every file under dir with its size, mode and content, to
// tell whether anything there changed.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		b, _ := os.ReadFile(p)
		lines = append(lines, fmt.Sprintf("%s %v %d %q", p, fi.Mode(), fi.Size(), b))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

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
	return d, snapshot(t, d)
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
			c.fill("f", 20, nil)
			outside, before := outsideDir(t, "victim")
			for _, l := range tc.links {
				p := filepath.Join(c.dir, filepath.FromSlash(l))
				os.RemoveAll(p)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.Symlink(outside, p); err != nil {
					t.Fatal(err)
				}
			}
			r := runCLI(t, "gc", "-grace", "0s", "-dir", c.dir)
			if r.code == 0 || !strings.Contains(r.stderr, "symbolic link") {
				t.Fatalf("gc beside planted links: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			r = runCLICode(t, exitProblems, "check", "-dir", c.dir)
			for _, l := range tc.links {
				if !strings.Contains(r.stdout, "planted "+l+": is a symbolic link to "+outside) {
					t.Fatalf("check does not name %s:\n%s", l, r.stdout)
				}
			}
			runCLI(t, "check", "-repair", "-dir", c.dir)
			if after := snapshot(t, outside); after != before {
				t.Fatalf("maintenance changed files outside the cache:\nbefore\n%s\nafter\n%s", before, after)
			}
			for _, l := range tc.links {
				if fi, err := os.Lstat(filepath.Join(c.dir, filepath.FromSlash(l))); err == nil && fi.Mode()&os.ModeSymlink != 0 {
					t.Fatalf("check -repair left the planted link %s", l)
				}
			}
			runCLI(t, "check", "-repair", "-dir", c.dir) // entries whose objects were behind the link are dropped
			runCLICode(t, exitOK, "check", "-dir", c.dir)
			runCLICode(t, exitOK, "gc", "-grace", "0s", "-dir", c.dir)
			if after := snapshot(t, outside); after != before {
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
	c.fill("f", 5, nil)
	filepath.Walk(c.dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, 65534, 65534)
		}
		return nil
	})
	t.Setenv("PCACHE_SAFE_DIRECTORY", "")
	for _, args := range [][]string{{"gc"}, {"check", "-repair"}, {"rm", "f"}} {
		r := runCLI(t, append(args, "-dir", c.dir)...)
		if r.code != exitProblems || !strings.Contains(r.stderr, "owned by another user") || !strings.Contains(r.stderr, "PCACHE_SAFE_DIRECTORY") {
			t.Fatalf("%v on another user's cache: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	runCLICode(t, exitOK, "check", "-dir", c.dir)
	runCLICode(t, exitOK, "gc", "-dry-run", "-dir", c.dir)
	runCLICode(t, exitOK, "ls", "-dir", c.dir)
	t.Setenv("PCACHE_SAFE_DIRECTORY", c.dir)
	runCLICode(t, exitOK, "gc", "-dir", c.dir)
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
			if err := syscallMkfifo(p); err != nil {
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
			c.fill("f", 3, nil)
			marker := filepath.Join(c.dir, "pcache.json")
			os.Remove(marker)
			tc.plant(t, marker)
			r := runCLICode(t, exitProblems, "check", "-dir", c.dir)
			if !strings.Contains(r.stdout, "bad-marker") {
				t.Fatalf("check does not report the marker:\n%s", r.stdout)
			}
			runCLICode(t, exitProblems, "ls", "-dir", c.dir)
			runCLI(t, "check", "-repair", "-dir", c.dir)
			runCLICode(t, exitOK, "check", "-dir", c.dir)
		})
	}
}
