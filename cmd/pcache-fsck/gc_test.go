package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/maintain"
)

// TestGCAfterRm removes 300 of 1000 entries (30 of 100 in -short) with rm
// and checks that gc takes exactly the objects nothing else uses, and that
// the other entries still hit.
func TestGCAfterRm(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	// Entry i's result is value i%(9u): entries 9u..10u-1 share objects with
	// entries 0..u-1, so removing 0..3u-1 frees exactly objects u..3u-1.
	// u is 100 (10 in -short, where the loose objects are a tenth).
	u := 100
	if testing.Short() {
		u = 10
	}
	es := c.Fill("f", 10*u, func(i int) []byte { return []byte(fmt.Sprintf("value %d", i%(9*u))) })
	if n := c.ObjectCount(); n != 9*u {
		t.Fatalf("%d objects, want %d", n, 9*u)
	}
	args := []string{"rm", "f", "-dir", c.Dir}
	for i := 0; i < 3*u; i++ {
		args = append(args, "-key", hex.EncodeToString(es[i].KeyHash[:]))
	}
	r := runCLICode(t, 0, args...)
	if want := fmt.Sprintf("rm: removed %d entries of f", 3*u); !strings.Contains(r.stdout, want) {
		t.Errorf("rm output, want %q:\n%s", want, r.stdout)
	}

	r = runCLICode(t, 0, "gc", "-dry-run", "-grace", "0s", "-dir", c.Dir, "-json")
	var plan maintain.GCReport
	decodeJSON(t, r.stdout, &plan)
	if !plan.DryRun || plan.ObjectsRemoved != 2*u || plan.EntriesKept != 7*u || plan.ObjectsKept != 7*u {
		t.Fatalf("dry-run plan %+v", plan)
	}
	if n := c.ObjectCount(); n != 9*u {
		t.Fatalf("dry run removed objects: %d left", n)
	}

	r = runCLICode(t, 0, "gc", "-grace", "0s", "-dir", c.Dir)
	if want := fmt.Sprintf("gc: removed 0 entries, %d objects (", 2*u); !strings.Contains(r.stdout, want) {
		t.Errorf("gc summary, want %q:\n%s", want, r.stdout)
	}
	keys := make([]string, len(es))
	for i := range es {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	hits := c.Hits("f", keys...)
	for i, e := range es {
		_, err := c.Store.Size(e.Result)
		gone := err != nil
		if want := i >= u && i < 3*u; gone != want {
			t.Errorf("object of entry %d: gone=%v, want %v", i, gone, want)
		}
		if hit := hits[keys[i]]; hit != (i >= 3*u) {
			t.Errorf("entry %d: hit=%v", i, hit)
		}
	}
	runCLICode(t, 0, "check", "-dir", c.Dir)
}

func TestGCGraceKeepsYoungFiles(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 3, nil)
	young, _ := c.Store.Put([]byte("young and unreferenced"))
	oldID, _ := c.Store.Put([]byte("old and unreferenced"))
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(c.Store.Path(oldID), old, old)
	tmpOld := filepath.Join(c.Dir, "tmp", "a.tmp")
	tmpNew := filepath.Join(c.Dir, "tmp", "b.tmp")
	os.WriteFile(tmpOld, []byte("x"), 0o644)
	os.WriteFile(tmpNew, []byte("y"), 0o644)
	os.Chtimes(tmpOld, old, old)
	lockOld := layout.New(c.Dir).KeyLock([32]byte{0xab, 0x12})
	os.MkdirAll(filepath.Dir(lockOld), 0o755)
	os.WriteFile(lockOld, nil, 0o644)
	os.Chtimes(lockOld, old, old)

	r := runCLICode(t, 0, "gc", "-dir", c.Dir, "-v")
	if !strings.Contains(r.stdout, "gc: removed 0 entries, 1 object (") ||
		!strings.Contains(r.stdout, "1 temp file (") || !strings.Contains(r.stdout, "1 lock file;") {
		t.Errorf("gc output:\n%s", r.stdout)
	}
	if _, err := c.Store.Size(young); err != nil {
		t.Error("young unreferenced object removed inside the grace period")
	}
	if _, err := c.Store.Size(oldID); err == nil {
		t.Error("old unreferenced object kept")
	}
	if _, err := os.Stat(tmpNew); err != nil {
		t.Error("young temp file removed")
	}
	if _, err := os.Stat(tmpOld); err == nil {
		t.Error("stale temp file kept")
	}
	if _, err := os.Stat(lockOld); err == nil {
		t.Error("stale key lock kept")
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "locks", "gc.lock")); err != nil {
		t.Errorf("gc.lock must never be removed: %v", err)
	}
}

// setUsed makes an object look last used ago (its mtime: how loose objects
// record hits).
func setUsed(t *testing.T, c *testCache, id cas.ID, ago time.Duration) {
	t.Helper()
	at := time.Now().Add(-ago)
	if err := os.Chtimes(c.Store.Path(id), at, at); err != nil {
		t.Fatal(err)
	}
}

func TestGCOlderThan(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	ages := []time.Duration{40 * 24 * time.Hour, 30*24*time.Hour + 30*time.Minute, 10 * 24 * time.Hour, 0}
	es := c.FillAged("f", 4, nil, func(i int) time.Duration { return ages[i] })
	for i, e := range es {
		setUsed(t, c, e.Result, ages[i]) // entry 1 is within the touch slack: kept
	}
	r := runCLICode(t, 0, "gc", "-older-than", "30d", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "gc: removed 1 entry, 1 object (") {
		t.Errorf("gc output:\n%s", r.stdout)
	}
	for i, want := range []bool{false, true, true, true} {
		if got := c.Hit("f", fmt.Sprintf("k%d", i)); got != want {
			t.Errorf("entry %d: hit=%v, want %v", i, got, want)
		}
	}
	runCLICode(t, 0, "check", "-dir", c.Dir)
}

func TestGCMaxSizeEvictsLRU(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	// Ten 1000-byte results; entry i was last used i hours ago, so the
	// highest i are least recently used. Entry 9 shares its object with
	// entry 0 (recent), so evicting 9 frees nothing.
	age := func(i int) time.Duration {
		if i == 9 {
			i = 0
		}
		return time.Duration(i+2) * time.Hour
	}
	es := c.FillAged("f", 10, func(i int) []byte {
		if i == 9 {
			i = 0
		}
		return []byte(strings.Repeat(string(rune('a'+i)), 1000))
	}, age)
	for i := 0; i < 9; i++ {
		setUsed(t, c, es[i].Result, age(i))
	}
	r := runCLICode(t, 0, "gc", "-max-size", "5.5kB", "-dir", c.Dir, "-json")
	var rep maintain.GCReport
	decodeJSON(t, r.stdout, &rep)
	// 9 objects = 9000 bytes; must drop 4 objects (8,7,6,5) to fit 5500.
	if rep.ObjectsRemoved != 4 || rep.BytesKept != 5000 || rep.EvictedSize != 4 {
		t.Fatalf("report %+v", rep)
	}
	for i := 0; i < 10; i++ {
		if got, want := c.Hit("f", fmt.Sprintf("k%d", i)), i < 5 || i == 9; got != want {
			t.Errorf("entry %d: hit=%v, want %v", i, got, want)
		}
	}
}

func TestGCRefusesBadFlags(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	for _, args := range [][]string{
		{"gc", "-grace", "soon"},
		{"gc", "-grace", "-1h"},
		{"gc", "-older-than", "30 days"},
		{"gc", "-max-size", "10 GB of it"},
		{"gc", "-max-size", "-5MB"},
		{"gc", "extra"},
	} {
		runCLICode(t, 2, append(args, "-dir", c.Dir)...)
	}
}

func TestGCFailsClosedOnDamagedManifest(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 5, nil)
	c.Add("f", c.Entry("late", []byte("late value")))
	if !truncateJournal(t, c.Dir, "f") {
		t.Skip("manifest keeps no journal")
	}
	before := c.ObjectCount()
	for _, args := range [][]string{{"gc", "-grace", "0s"}, {"gc", "-dry-run"}} {
		r := runCLICode(t, 1, append(args, "-dir", c.Dir)...)
		if !strings.Contains(r.stderr, "refusing to collect: manifest f has 1 problem") ||
			!strings.Contains(r.stderr, "pcache-fsck check -repair -dir") {
			t.Errorf("%v stderr:\n%s", args, r.stderr)
		}
	}
	if n := c.ObjectCount(); n != before {
		t.Fatalf("gc removed %d objects from a cache it could not read fully", before-n)
	}
	runCLICode(t, 0, "check", "-repair", "-dir", c.Dir)
	r := runCLICode(t, 0, "gc", "-grace", "0s", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "gc: removed 0 entries, 1 object (") {
		t.Errorf("gc after repair:\n%s", r.stdout)
	}
}

// TestGCRemovesOrphanJournalLocks: the writer lock of a journal that no
// longer exists (its writer crashed, or compaction folded it away) goes once
// older than the grace period; a live journal's lock and young ones stay.
func TestGCRemovesOrphanJournalLocks(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("f", 3, nil)
	locks := filepath.Join(c.Dir, "locks", "journals")
	os.MkdirAll(locks, 0o755)
	old := time.Now().Add(-2 * time.Hour)
	orphan := filepath.Join(locks, "j-deadhost.1.0123456789abcdef.pcj.lock")
	young := filepath.Join(locks, "j-deadhost.2.0123456789abcdef.pcj.lock")
	os.WriteFile(orphan, nil, 0o644)
	os.Chtimes(orphan, old, old)
	os.WriteFile(young, nil, 0o644)
	var liveLocks []string
	journals, _ := filepath.Glob(filepath.Join(c.Dir, "manifests", "f", "j-*.pcj"))
	for _, j := range journals {
		l := filepath.Join(locks, filepath.Base(j)+".lock")
		if _, err := os.Stat(l); err == nil {
			os.Chtimes(l, old, old)
			liveLocks = append(liveLocks, l)
		}
	}
	runCLICode(t, 0, "gc", "-dir", c.Dir)
	if _, err := os.Stat(orphan); err == nil {
		t.Error("orphan journal lock kept")
	}
	if _, err := os.Stat(young); err != nil {
		t.Error("young journal lock removed inside the grace period")
	}
	for _, l := range liveLocks {
		if j := filepath.Join(c.Dir, "manifests", "f", strings.TrimSuffix(filepath.Base(l), ".lock")); fileExists(j) && !fileExists(l) {
			t.Errorf("lock of existing journal %s removed", filepath.Base(j))
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
