package maintain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil"
	"github.com/pcache/pcache/internal/testutil/testcache"
)

// These tests drive check, repair and gc through the library, one fresh
// Open per step as each pcache-fsck command does, over every kind of
// damage; pcache-fsck's tests run one of each through the binary for its
// own part (exit codes, messages).

// mustOpen opens dir for maintenance.
func mustOpen(t *testing.T, dir string) *Cache {
	t.Helper()
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// check runs Check (with repair if asked) on a fresh Open of dir.
func check(t *testing.T, dir string, repair bool) *CheckReport {
	t.Helper()
	rep, err := mustOpen(t, dir).Check(context.Background(), CheckOptions{Repair: repair})
	if err != nil {
		t.Fatalf("Check (repair %v): %v", repair, err)
	}
	return rep
}

// mustBeClean fails unless Check finds no error in dir.
func mustBeClean(t *testing.T, dir string, after string) {
	t.Helper()
	if rep := check(t, dir, false); !rep.Clean {
		t.Fatalf("after %s, check is not clean:\n%s", after, findings(rep))
	}
}

// gc plans and executes a collection (grace 0) on a fresh Open of dir, as
// pcache-fsck gc -grace 0s does.
func gc(t *testing.T, dir string) (*GCReport, error) {
	t.Helper()
	p, err := mustOpen(t, dir).PlanGC(context.Background(), GCOptions{})
	if err != nil {
		return nil, err
	}
	return p.Execute(context.Background())
}

func findings(rep *CheckReport) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		b.WriteString(f.String() + "\n")
	}
	if rep.Repair != nil {
		for _, a := range rep.Repair.Actions {
			b.WriteString(a.String() + "\n")
		}
	}
	return b.String()
}

// TestPackDamage: over a sealed pack damaged each way, a reader serves
// every record the damage spared; check names the pack (never "missing"
// loose objects beyond the records lost); gc refuses, as damage a repair
// fixes, a pack whose own bytes are damaged instead of deleting what it
// cannot read; and after a repair every entry served before is still
// served, check is clean and gc runs, leaving no lock file of a sealed or
// gone pack.
func TestPackDamage(t *testing.T) {
	t.Parallel()
	for _, tc := range packDamageCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, es, target := damagedPack(t, tc)
			dir := c.Dir()
			before := c.raw.Served(packDamageFn, es)
			if len(before) != packDamageN-tc.lost {
				t.Fatalf("a reader serves %d of %d entries after the damage, want %d", len(before), packDamageN, packDamageN-tc.lost)
			}
			stillServed := func(after string) {
				t.Helper()
				now := c.raw.Served(packDamageFn, es)
				for i := range before {
					if !now[i] {
						t.Errorf("after %s: entry %d is no longer served", after, i)
					}
				}
			}

			rep := check(t, dir, false)
			if rep.Clean {
				t.Fatalf("check of a damaged pack is clean:\n%s", findings(rep))
			}
			if missing := len(findingsOf(rep, KindMissing)); missing > tc.lost {
				t.Errorf("check calls %d objects missing, more than the %d damaged records:\n%s", missing, tc.lost, findings(rep))
			}
			rel := "objects/pack/" + filepath.Base(target)
			if !strings.Contains(findings(rep), rel) {
				t.Errorf("check does not name %s:\n%s", rel, findings(rep))
			}

			_, err := gc(t, dir)
			switch {
			case tc.gcRefuses && err == nil:
				t.Error("gc collected beside a pack whose own bytes are damaged")
			case tc.gcRefuses:
				var de *DamagedError
				if !errors.As(err, &de) || de.Fix != FixRepair {
					t.Errorf("gc on a damaged pack: %v, want a *DamagedError fixed by a repair", err)
				}
			case err != nil:
				t.Logf("gc: %v", err)
			}
			stillServed("gc")

			check(t, dir, true)
			mustBeClean(t, dir, "the repair")
			stillServed("the repair")

			if _, err := gc(t, dir); err != nil {
				t.Fatalf("gc after the repair: %v", err)
			}
			stillServed("gc after the repair")
			mustBeClean(t, dir, "gc after the repair")
			if locks, _ := filepath.Glob(filepath.Join(dir, "locks", "packs", "*")); len(locks) > 0 {
				t.Errorf("gc left the lock files of sealed or gone packs: %v", locks)
			}
		})
	}
}

// The pack TestPackDamage damages holds packDamageN entries of the
// function packDamageFn.
const packDamageN, packDamageFn = 50, "f"

// packDamageCase is one way TestPackDamage damages the pack (or, with
// index, its index), and what the damage costs.
type packDamageCase struct {
	name      string
	index     bool
	damage    func([]byte, []cas.PackedObject) []byte
	lost      int  // entries a reader no longer serves
	gcRefuses bool // the pack's own bytes are damaged
}

// packDamageCases are TestPackDamage's damages: a flipped bit in a
// record's bytes, in its size field, in the pack header and its version,
// and in the pack index, and a pack cut short.
func packDamageCases() []packDamageCase {
	const recHeader, hdr = 1 + 32 + 4, 16
	flip := func(off func([]cas.PackedObject) int64, mask byte) func([]byte, []cas.PackedObject) []byte {
		return func(b []byte, recs []cas.PackedObject) []byte { b[off(recs)] ^= mask; return b }
	}
	at := func(i int, d int64) func([]cas.PackedObject) int64 {
		return func(recs []cas.PackedObject) int64 { return recs[i].Offset + d }
	}
	fixed := func(o int64) func([]cas.PackedObject) int64 { return func([]cas.PackedObject) int64 { return o } }
	return []packDamageCase{
		{"record bytes", false, flip(at(9, recHeader+1), 0x20), 1, false},
		{"record size field", false, flip(at(9, 33), 0x01), 1, true},
		{"record size field, far", false, flip(at(9, 34), 0x04), 1, true},
		{"pack header", false, flip(fixed(4), 0x01), 0, true},
		{"pack header version", false, flip(fixed(hdr-1), 0x01), 0, true},
		{"pack index", true, func(b []byte, _ []cas.PackedObject) []byte { b[len(b)/2] ^= 0x01; return b }, 0, false},
		{"truncated pack", false, func(b []byte, recs []cas.PackedObject) []byte { return b[:recs[40].Offset+3] }, 10, true},
	}
}

// damagedPack fills a new cache with packDamageN entries, seals them in
// one pack (requiring exactly that) and damages the pack or its index as
// tc says. It returns the cache, its entries and the damaged file.
func damagedPack(t *testing.T, tc packDamageCase) (*testCache, []record.Entry, string) {
	c := newTestCache(t)
	es := c.fill(packDamageFn, packDamageN)
	if err := c.raw.Store.Close(); err != nil { // seals the pack
		t.Fatal(err)
	}
	pis, err := c.raw.Store.ListPacks(nil)
	if err != nil || len(pis) != 1 || !pis[0].Sealed || len(pis[0].Objects) != packDamageN {
		t.Fatalf("want one sealed pack of %d records: %+v, %v", packDamageN, pis, err)
	}
	target := pis[0].Path
	if tc.index {
		target = filepath.Join(filepath.Dir(target), layout.PackIndexName(filepath.Base(target)))
	}
	b, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(target, 0o644) // sealed packs are read-only
	if err := os.WriteFile(target, tc.damage(b, pis[0].Objects), 0o444); err != nil {
		t.Fatal(err)
	}
	return c, es, target
}

// TestPlantedLinksNeverLeadMaintenanceOutside: links planted where the
// cache keeps its own directories (tmp/ to a directory of files older than
// the grace period; objects/ to a private directory and lost+found/ to one
// the planter owns; an object fan-out directory; locks/) make gc refuse,
// check name them and a repair remove the links alone; no file outside the
// cache is deleted, moved or changed, and the cache works afterwards.
func TestPlantedLinksNeverLeadMaintenanceOutside(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		links []string // cache-relative paths made links to the outside directory
	}{
		{"tmp", []string{"tmp"}},
		{"objects and lost+found", []string{"objects", "lost+found"}},
		{"an object fan-out directory", []string{"objects/ab"}},
		{"locks", []string{"locks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := testcache.New(t, testcache.Loose)
			c.Fill("f", 20, nil)
			outside, before := testutil.OutsideDir(t)
			for _, l := range tc.links {
				p := filepath.Join(c.Dir, filepath.FromSlash(l))
				os.RemoveAll(p)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.Symlink(outside, p); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := gc(t, c.Dir); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "symbolic link") {
				t.Fatalf("gc beside planted links: %v, want a refusal naming the link", err)
			}
			rep := check(t, c.Dir, false)
			for _, l := range tc.links {
				if want := "planted " + l + ": is a symbolic link to " + outside; !strings.Contains(findings(rep), want) {
					t.Fatalf("check does not say %q:\n%s", want, findings(rep))
				}
			}
			check(t, c.Dir, true)
			if after := testutil.Snapshot(t, outside); after != before {
				t.Fatalf("the repair changed files outside the cache:\nbefore\n%s\nafter\n%s", before, after)
			}
			for _, l := range tc.links {
				if fi, err := os.Lstat(filepath.Join(c.Dir, filepath.FromSlash(l))); err == nil && fi.Mode()&os.ModeSymlink != 0 {
					t.Fatalf("the repair left the planted link %s", l)
				}
			}
			check(t, c.Dir, true) // entries whose objects were behind the link are dropped
			mustBeClean(t, c.Dir, "the repairs")
			if _, err := gc(t, c.Dir); err != nil {
				t.Fatalf("gc after the repairs: %v", err)
			}
			if after := testutil.Snapshot(t, outside); after != before {
				t.Fatalf("gc changed files outside the cache:\nbefore\n%s\nafter\n%s", before, after)
			}
		})
	}
}
