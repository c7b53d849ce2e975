package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/maintain"
	"github.com/pcache/pcache/internal/testutil"
)

// A damaged pcache.json in a cache is damage, not "no pcache.json" and not
// "a newer pcache": check says so and exits 1, the other commands refuse
// naming the fix, check -repair rewrites it, and the library (which judges
// with the same layout.CheckMarker) keeps using the cache meanwhile. (The
// maintenance library's TestDamagedMarkers takes every kind of damage
// through check and repair.)
func TestDamagedMarker(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 3, nil)
	marker := filepath.Join(c.Dir, layout.MarkerFile)
	good, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(marker, good[:len(good)/2], 0o644)

	r := runCLICode(t, 1, "check", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "bad-marker pcache.json: ") || !strings.Contains(r.stdout, "damaged") ||
		!strings.Contains(r.stdout, "next: pcache-fsck check -repair -dir ") {
		t.Errorf("check of a damaged marker:\n%s", r.stdout)
	}
	for _, out := range []string{r.stdout, r.stderr} {
		if strings.Contains(out, "has no pcache.json") || strings.Contains(out, "newer") || strings.Contains(out, "upgrade") {
			t.Errorf("a damaged marker reported as missing or newer:\n%s", out)
		}
	}
	for _, args := range [][]string{{"ls"}, {"stats"}, {"gc"}, {"rm", "f"}} {
		r := runCLICode(t, 1, append(args, "-dir", c.Dir)...)
		if !strings.Contains(r.stderr, "damaged") || !strings.Contains(r.stderr, "check -repair") || strings.Contains(r.stderr, "not a cache directory") {
			t.Errorf("%v on a damaged marker: %q", args, r.stderr)
		}
	}
	// The library agrees it is a cache and serves it.
	s, err := pcache.Open(c.Dir)
	if err != nil {
		t.Fatalf("pcache.Open of a cache with a damaged marker: %v", err)
	}
	s.Close()

	r = runCLICode(t, 0, "check", "-repair", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "rewrote pcache.json") {
		t.Errorf("check -repair:\n%s", r.stdout)
	}
	runCLICode(t, 0, "check", "-dir", c.Dir)
	if r := runCLICode(t, 0, "ls", "-dir", c.Dir); !strings.Contains(r.stdout, "f ") {
		t.Errorf("ls after the repair:\n%s", r.stdout)
	}
	if !c.Hit("f", "k0") {
		t.Error("repairing the marker lost an entry")
	}
}

// A damaged marker in a directory that is not otherwise a cache (a file of
// someone else's beside it) makes no cache: check -repair refuses to write a
// marker there, and the library refuses it too.
func TestDamagedMarkerOfANonCache(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 1, nil)
	marker := filepath.Join(c.Dir, layout.MarkerFile)
	os.WriteFile(marker, []byte(`{"format":"pcache-ca`), 0o644)
	os.WriteFile(filepath.Join(c.Dir, "notes.txt"), []byte("mine"), 0o644)
	for _, args := range [][]string{{"check"}, {"check", "-repair"}} {
		r := runCLICode(t, 1, append(args, "-dir", c.Dir)...)
		if !strings.Contains(r.stderr, "not a cache directory") || !strings.Contains(r.stderr, "damaged") {
			t.Errorf("%v: %q", args, r.stderr)
		}
	}
	if b, _ := os.ReadFile(marker); string(b) != `{"format":"pcache-ca` {
		t.Errorf("check -repair rewrote the marker of a directory that is not a cache: %s", b)
	}
	if _, err := pcache.Open(c.Dir); !errors.Is(err, pcache.ErrNotCache) || strings.Count(err.Error(), "pcache:") != 1 {
		t.Errorf("pcache.Open: %v, want ErrNotCache with one pcache: prefix", err)
	}
}

// A sound marker of a newer layout (its checksum matches) is refused by
// both, as newer.
func TestNewerMarker(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 1, nil)
	newer := layout.MaxMarkerVersion + 1
	sum := blake3.Sum256([]byte(fmt.Sprintf("%s %d %s", layout.MarkerFormat, newer, layout.Digest)))
	m := fmt.Sprintf(`{"format":%q,"version":%d,"digest":%q,"sum":%q}`, layout.MarkerFormat, newer, layout.Digest, hex.EncodeToString(sum[:4]))
	os.WriteFile(filepath.Join(c.Dir, layout.MarkerFile), []byte(m), 0o644)
	r := runCLICode(t, 1, "check", "-repair", "-dir", c.Dir)
	if !strings.Contains(r.stderr, "newer pcache") {
		t.Errorf("check of a newer cache: %q", r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(c.Dir, layout.MarkerFile)); string(b) != m {
		t.Errorf("check -repair rewrote a newer marker: %s", b)
	}
	if _, err := pcache.Open(c.Dir); err == nil || !strings.Contains(err.Error(), "newer pcache") {
		t.Errorf("pcache.Open of a newer cache: %v", err)
	}
}

// A cache this user may not read is a permission error, for the CLI and the
// library, with one prefix; never "not a cache directory". Root may read
// anything, so this runs as another user (the suite also runs as uid 65534).
func TestPermissionDeniedSaysPermission(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory; run the tests as an unprivileged user")
	}
	c := newTestCache(t)
	c.Fill("f", 1, nil)
	os.Chmod(c.Dir, 0)
	t.Cleanup(func() { os.Chmod(c.Dir, 0o755) })
	for _, args := range [][]string{{"check"}, {"ls"}, {"gc", "-dry-run"}} {
		r := runCLICode(t, 1, append(args, "-dir", c.Dir)...)
		if !strings.Contains(r.stderr, "permission denied") || strings.Contains(r.stderr, "not a cache directory") {
			t.Errorf("%v of an unreadable cache: %q", args, r.stderr)
		}
	}
	_, err := pcache.Open(c.Dir)
	if err == nil || !errors.Is(err, os.ErrPermission) || errors.Is(err, pcache.ErrNotCache) || strings.Count(err.Error(), "pcache:") != 1 {
		t.Errorf("pcache.Open of an unreadable cache: %v", err)
	}
}

// gc -dry-run needs only read access: on a cache this user may not write it
// plans without the gc lock, warns, and creates nothing; a real gc fails
// with the permission error.
func TestGCDryRunReadOnly(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root writes every directory; run the tests as an unprivileged user")
	}
	c := newTestCache(t)
	c.Fill("f", 2, nil)
	if _, err := c.Store.Put([]byte("nobody uses this")); err != nil {
		t.Fatal(err)
	}
	runCLICode(t, 0, "check", "-dir", c.Dir) // leaves the gc lock files
	setModes := func(dir, file os.FileMode) {
		filepath.Walk(c.Dir, func(p string, info os.FileInfo, err error) error {
			if err == nil {
				if info.IsDir() {
					os.Chmod(p, dir)
				} else {
					os.Chmod(p, file)
				}
			}
			return nil
		})
	}
	setModes(0o555, 0o444)
	t.Cleanup(func() { setModes(0o755, 0o644) })
	before := testutil.Snapshot(t, c.Dir)
	r := runCLICode(t, 0, "gc", "-dry-run", "-grace", "0s", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "gc (dry run): would remove 0 entries, 1 object") || !strings.Contains(r.stdout, "warning: planned without the gc lock") {
		t.Errorf("gc -dry-run of a read-only cache:\n%s\n%s", r.stdout, r.stderr)
	}
	r = runCLICode(t, 0, "gc", "-dry-run", "-json", "-dir", c.Dir)
	var rep maintain.GCReport
	decodeJSON(t, r.stdout, &rep)
	if !rep.DryRun || len(rep.Warnings) != 1 {
		t.Errorf("gc -dry-run -json: %+v", rep)
	}
	if after := testutil.Snapshot(t, c.Dir); after != before {
		t.Errorf("gc -dry-run changed a read-only cache:\nbefore %s\nafter  %s", before, after)
	}
	if r := runCLICode(t, 1, "gc", "-dir", c.Dir); !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("gc of a read-only cache: %q", r.stderr)
	}
}

// -h prints the help on stdout and exits 0, without the "run ... -h" pointer
// a real mistake gets (once).
func TestHelpIsNotAnError(t *testing.T) {
	t.Parallel()
	for _, name := range commandOrder {
		r := runCLICode(t, 0, name, "-h")
		if r.stderr != "" || !strings.Contains(r.stdout, "Usage: pcache-fsck "+name) {
			t.Errorf("%s -h: stdout %q\nstderr %q", name, r.stdout, r.stderr)
		}
		r = runCLICode(t, 2, name, "-no-such-flag", "-dir", t.TempDir())
		if strings.Count(r.stderr, "run 'pcache-fsck "+name+" -h' for usage") != 1 || !strings.Contains(r.stderr, "no-such-flag") {
			t.Errorf("%s -no-such-flag: %q", name, r.stderr)
		}
	}
}

// A bad value is blamed on the argument that carried it.
func TestErrorsNameTheArgument(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 2, nil)
	for _, tc := range []struct {
		args       []string
		want, not  string
		wantStatus int
	}{
		{[]string{"ls", "f", "-diff", "xyz"}, "-diff: ", "-key", 2},
		{[]string{"rm", "f", "zz"}, "KEY argument: ", "-key", 2},
		{[]string{"rm", "f", "-key", "zz"}, "-key: ", "KEY argument", 2},
		{[]string{"cat-object", "-json", strings.Repeat("0", 64)}, "-json is not supported", "", 2},
	} {
		r := runCLICode(t, tc.wantStatus, append(tc.args, "-dir", c.Dir)...)
		if !strings.Contains(r.stderr, tc.want) || tc.not != "" && strings.Contains(r.stderr, tc.not) {
			t.Errorf("%v: %q, want it to name %q", tc.args, r.stderr, tc.want)
		}
	}
}

// After rm NAME and gc, NAME is gone from ls and stats (its manifest keeps
// the tombstone, so a later rsync from a copy cannot bring it back).
func TestRemovedFunctionLeavesLs(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 2, nil)
	c.Fill("g", 1, nil)
	runCLICode(t, 0, "rm", "f", "-dir", c.Dir)
	runCLICode(t, 0, "gc", "-grace", "0s", "-dir", c.Dir)
	if r := runCLICode(t, 0, "ls", "-dir", c.Dir); strings.Contains(r.stdout, "\nf ") || !strings.Contains(r.stdout, "\ng ") {
		t.Errorf("ls after rm f and gc:\n%s", r.stdout)
	}
	var fns []maintain.FuncStats
	decodeJSON(t, runCLICode(t, 0, "ls", "-json", "-dir", c.Dir).stdout, &fns)
	if len(fns) != 1 || fns[0].Name != "g" {
		t.Errorf("ls -json after rm f and gc: %+v", fns)
	}
	var st maintain.StatsReport
	decodeJSON(t, runCLICode(t, 0, "stats", "-json", "-dir", c.Dir).stdout, &st)
	if len(st.Functions) != 1 || st.Total.Entries != 1 {
		t.Errorf("stats -json after rm f and gc: %+v", st)
	}
	if len(c.Live("f")) != 0 {
		t.Error("f has live entries after rm")
	}
}

// Missing places are errors that say what is missing, with one prefix.
func TestMissingTargets(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 1, nil)
	missing := filepath.Join(t.TempDir(), "nope")
	for _, sub := range []string{"stats", "check", "gc"} {
		r := runCLICode(t, 1, "remote", sub, "-remote", "file://"+missing)
		if !strings.Contains(r.stderr, "directory "+missing+" does not exist") || strings.Contains(r.stdout, "0 functions") {
			t.Errorf("remote %s of a missing directory: %q %q", sub, r.stdout, r.stderr)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("remote %s created the missing directory", sub)
		}
	}
	r := runCLICode(t, 1, "export", "f", filepath.Join(missing, "f.tar"), "-dir", c.Dir)
	if !strings.Contains(r.stderr, "directory "+missing+" does not exist") || strings.Count(r.stderr, "export:") != 1 {
		t.Errorf("export into a missing directory: %q", r.stderr)
	}
	r = runCLICode(t, 1, "import", filepath.Join(missing, "f.tar"), "-dir", c.Dir)
	if !strings.Contains(r.stderr, "no such file") || strings.Count(r.stderr, "import:") != 1 {
		t.Errorf("import of a missing file: %q", r.stderr)
	}
	r = runCLICode(t, 1, "import", filepath.Join(missing, "f.tar"), "-dir", missing)
	if !strings.Contains(r.stderr, "not a cache directory") || strings.Contains(r.stderr, "for usage") {
		t.Errorf("import into a missing cache: %q", r.stderr)
	}
}

// gc's summary names only the limits that were given.
func TestGCSummaryNamesGivenLimits(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 3, nil)
	if r := runCLICode(t, 0, "gc", "-dry-run", "-dir", c.Dir); strings.Contains(r.stdout, "entries:") {
		t.Errorf("gc without limits:\n%s", r.stdout)
	}
	r := runCLICode(t, 0, "gc", "-dry-run", "-max-size", "20", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "over -max-size 20 B") || strings.Contains(r.stdout, "not used for") {
		t.Errorf("gc -max-size:\n%s", r.stdout)
	}
	r = runCLICode(t, 0, "gc", "-dry-run", "-older-than", "30d", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "0 not used for") && strings.Contains(r.stdout, "entries:") || strings.Contains(r.stdout, "max-size") {
		t.Errorf("gc -older-than:\n%s", r.stdout)
	}
}

// No JSON output holds null for a list: empty lists are [].
func TestJSONListsAreNeverNull(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	rem := "file://" + t.TempDir()
	check := func(args ...string) {
		t.Helper()
		r := runCLI(t, append(args, "-json")...)
		var v any
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Errorf("%v: not JSON (%v): %s %s", args, err, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, "null") {
			t.Errorf("%v: null in JSON:\n%s", args, r.stdout)
		}
	}
	for _, args := range [][]string{
		{"check"}, {"check", "-repair"}, {"gc", "-dry-run"}, {"gc"}, {"stats"}, {"ls"},
	} {
		check(append(args, "-dir", c.Dir)...)
	}
	for _, sub := range []string{"stats", "check"} {
		check("remote", sub, "-remote", rem)
	}
	check("remote", "gc", "-dry-run", "-remote", rem)
	es := c.Fill("f", 1, nil)
	prefix := hex.EncodeToString(es[0].KeyHash[:])[:8]
	check("ls", "f", "-dir", c.Dir)
	check("ls", "f", "-diff", prefix, "-dir", c.Dir)
	check("rm", "f", "-key", prefix, "-dry-run", "-dir", c.Dir)
}

// The cache's own README and README.md name every pcache-fsck command.
func TestDocsNameEveryCommand(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## Maintenance: `pcache-fsck`")
	section, _, _ = strings.Cut(section, "\n## ")
	dir := filepath.Join(t.TempDir(), "c")
	runCLICode(t, 0, "init", "-dir", dir)
	readme, err := os.ReadFile(filepath.Join(dir, layout.ReadmeFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range commandOrder {
		if !strings.Contains(section, "pcache-fsck "+name+" ") {
			t.Errorf("README.md's pcache-fsck section does not show %s", name)
		}
		if !strings.Contains(string(readme), name) {
			t.Errorf("the cache README does not name %s", name)
		}
	}
}
