package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/maintain"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil/testcache"
)

func TestCheckCleanCache(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("a/f", 10, nil)
	c.Fill("b", 5, nil)
	r := runCLICode(t, 0, "check", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "check: "+c.Dir+": 2 functions, 15 entries, ") || !strings.Contains(r.stdout, "0 errors, 0 hints") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("stderr is not a terminal, so nothing (no progress bar) belongs there:\n%s", r.stderr)
	}
	// check is the default command.
	runCLICode(t, 0, "-dir", c.Dir)
}

func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, b, 0o444); err != nil {
		t.Fatal(err)
	}
}

// truncateJournal cuts a few bytes off the smallest manifest journal of
// name, tearing its last record. It reports false if the manifest has no
// journal.
func truncateJournal(t *testing.T, dir, name string) bool {
	t.Helper()
	js, _ := filepath.Glob(filepath.Join(dir, "manifests", filepath.FromSlash(name), "j-*.pcj"))
	var p string
	var st os.FileInfo
	for _, j := range js {
		if fi, err := os.Stat(j); err == nil && (st == nil || fi.Size() < st.Size()) {
			p, st = j, fi
		}
	}
	if p == "" {
		return false
	}
	if err := os.Truncate(p, st.Size()-3); err != nil {
		t.Fatal(err)
	}
	return true
}

func TestCheckFindsDamageAndRepairFixesIt(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	es := c.Fill("a/f", 20, nil)
	c.Fill("g", 3, nil)
	// The last entry goes in a journal of its own (each Open writes its own),
	// the smallest one, so the torn tail hits it only.
	late := c.Entry("late", []byte("appended last"))
	c.Add("a/f", late)

	flipByte(t, c.Store.Path(es[0].Result)) // hash mismatch
	if err := os.Remove(c.Store.Path(es[1].Result)); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(c.Dir, "tmp", "host.1.deadbeef.tmp")
	if err := os.WriteFile(tmp, []byte("half a write"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(tmp, old, old)
	torn := truncateJournal(t, c.Dir, "a/f")

	r := runCLICode(t, 1, "check", "-dir", c.Dir)
	t.Logf("check:\n%s", r.stdout)
	for _, want := range []string{
		"hash-mismatch " + layout.ObjectRel(es[0].Result) + ": ",
		"missing " + layout.ObjectRel(es[1].Result) + ": referenced by a/f key " + shortHash(es[1].KeyHash),
		"stale-temp tmp/host.1.deadbeef.tmp: ",
		"next: pcache-fsck check -repair -dir " + c.Dir,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.stdout)
		}
	}
	if torn && !strings.Contains(r.stdout, " manifests/a/f/") {
		t.Errorf("check output does not report the torn journal:\n%s", r.stdout)
	}
	// Every finding line has the grep-able shape "<kind> <path>: <detail>".
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if strings.HasPrefix(line, "check: ") || strings.HasPrefix(line, "next: ") {
			continue
		}
		kind, rest, ok := strings.Cut(line, " ")
		if !ok || strings.ContainsAny(kind, ":/") || !strings.Contains(rest, ": ") {
			t.Errorf("malformed finding line %q", line)
		}
	}

	r = runCLICode(t, 0, "check", "-repair", "-dir", c.Dir)
	t.Logf("check -repair:\n%s", r.stdout)
	if !strings.Contains(r.stdout, "quarantined "+layout.ObjectRel(es[0].Result)+": moved to lost+found/") {
		t.Errorf("repair did not quarantine the corrupt object:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "dropped manifests/a/f: entry "+shortHash(es[0].KeyHash)) ||
		!strings.Contains(r.stdout, "dropped manifests/a/f: entry "+shortHash(es[1].KeyHash)) {
		t.Errorf("repair did not drop the broken entries:\n%s", r.stdout)
	}
	lost, _ := os.ReadDir(filepath.Join(c.Dir, "lost+found"))
	if len(lost) != 1 {
		t.Errorf("lost+found holds %d files, want the corrupt object", len(lost))
	}

	r = runCLICode(t, 0, "check", "-dir", c.Dir)
	if !strings.Contains(r.stdout, " 0 errors,") {
		t.Errorf("check after repair:\n%s", r.stdout)
	}
	// The broken calls miss (and would recompute); every other one hits.
	for i := range es {
		key := fmt.Sprintf("k%d", i)
		if got, want := c.Hit("a/f", key), i > 1; got != want {
			t.Errorf("a/f %s: hit=%v, want %v", key, got, want)
		}
	}
	if got := c.Hit("a/f", "late"); got == torn {
		t.Errorf("entry in the torn record: hit=%v, want %v", got, !torn)
	}
	for i := 0; i < 3; i++ {
		if !c.Hit("g", fmt.Sprintf("k%d", i)) {
			t.Errorf("g k%d misses after repair", i)
		}
	}
	// gc then removes the stale temp file and the hints go away.
	runCLICode(t, 0, "gc", "-dir", c.Dir)
	r = runCLICode(t, 0, "check", "-dir", c.Dir)
	if strings.Contains(r.stdout, "stale-temp") {
		t.Errorf("stale temp survived gc:\n%s", r.stdout)
	}
}

func TestCheckStrayAndSizeMismatch(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	es := c.Fill("f", 4, nil)
	stray := filepath.Join(c.Dir, "objects", "zz-notes.txt")
	if err := os.WriteFile(stray, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An entry that records the wrong size for a good object.
	bad := es[2]
	bad.KeyHash = testcache.KeyHash("wrong-size")
	bad.Key = []byte("wrong-size")
	bad.Size += 10
	c.Add("f", bad)

	r := runCLICode(t, 1, "-dir", c.Dir, "-json")
	var rep maintain.CheckReport
	decodeJSON(t, r.stdout, &rep)
	kinds := map[string]int{}
	for _, f := range rep.Findings {
		kinds[f.Kind]++
	}
	if kinds[maintain.KindStray] != 1 || kinds[maintain.KindSizeMismatch] != 1 || rep.Errors != 2 || rep.Clean {
		t.Fatalf("findings %v, report %+v", kinds, rep)
	}
	runCLICode(t, 0, "check", "-repair", "-dir", c.Dir)
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("stray file still in objects/: %v", err)
	}
	runCLICode(t, 0, "check", "-dir", c.Dir)
	if c.Hit("f", "wrong-size") {
		t.Error("entry with the wrong size still hits")
	}
	if !c.Hit("f", "k2") {
		t.Error("the good entry sharing the object was dropped")
	}
}

func TestCheckDanglingIsAHint(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 2, nil)
	if _, err := c.Store.Put([]byte("nobody uses me")); err != nil {
		t.Fatal(err)
	}
	r := runCLICode(t, 0, "check", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "dangling objects/") || !strings.Contains(r.stdout, "next: pcache-fsck gc -dir") {
		t.Errorf("dangling object not hinted:\n%s", r.stdout)
	}
}

func TestCheckOutFileObjects(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	e := c.Entry("with-out", []byte("result"))
	outID, err := c.Store.Put([]byte("contents of out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	e.Outs = []record.OutFile{{Arg: "Path", Object: outID, Size: 19, Mode: 0o644,
		Paths: []record.PathRecord{{Path: "/tmp/out.txt", Size: 19}}}}
	c.Add("f", e)
	c.Fill("f", 2, nil)
	runCLICode(t, 0, "check", "-dir", c.Dir)
	if err := os.Remove(c.Store.Path(outID)); err != nil {
		t.Fatal(err)
	}
	r := runCLICode(t, 1, "check", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "missing "+layout.ObjectRel(outID)+": referenced by f key "+shortHash(e.KeyHash)+" (out:Path, 19 bytes)") {
		t.Errorf("check:\n%s", r.stdout)
	}
	r = runCLICode(t, 0, "check", "-repair", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "dropped manifests/f: entry "+shortHash(e.KeyHash)+": out:Path object") {
		t.Errorf("repair:\n%s", r.stdout)
	}
	if c.Hit("f", "with-out") || !c.Hit("f", "k1") {
		t.Error("repair dropped the wrong entries")
	}
}
