package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/testutil/testcache"
)

// TestPackDamageCLI drives check, gc and check -repair over a sealed pack
// whose record's size field is damaged (the maintenance library's
// TestPackDamage takes every kind of pack damage through the same steps):
// check exits 1 naming the pack, never calling intact objects missing; gc
// refuses, naming check -repair as the fix, instead of deleting what it
// cannot read; after check -repair every entry served before is still
// served, check exits 0 and gc runs.
func TestPackDamageCLI(t *testing.T) {
	t.Parallel()
	const n, name = 50, "f"
	c := testcache.New(t, cas.Options{})
	es := c.Fill(name, n, nil)
	if err := c.Store.Close(); err != nil { // seals the pack
		t.Fatal(err)
	}
	pis, err := c.Store.ListPacks(nil)
	if err != nil || len(pis) != 1 || !pis[0].Sealed || len(pis[0].Objects) != n {
		t.Fatalf("want one sealed pack of %d records: %+v, %v", n, pis, err)
	}
	pack := pis[0].Path
	b, err := os.ReadFile(pack)
	if err != nil {
		t.Fatal(err)
	}
	b[pis[0].Objects[9].Offset+33] ^= 0x01 // record 9's size field
	os.Chmod(pack, 0o644)                  // sealed packs are read-only
	if err := os.WriteFile(pack, b, 0o444); err != nil {
		t.Fatal(err)
	}
	before := c.Served(name, es)
	if len(before) != n-1 {
		t.Fatalf("a reader serves %d of %d entries after the damage, want %d", len(before), n, n-1)
	}
	stillServed := func(after string) {
		t.Helper()
		now := c.Served(name, es)
		for i := range before {
			if !now[i] {
				t.Errorf("after %s: entry %d is no longer served", after, i)
			}
		}
	}

	r := runCLICode(t, exitProblems, "check", "-dir", c.Dir)
	t.Logf("check:\n%s", r.stdout)
	if strings.Count(r.stdout, "missing") > 1 {
		t.Errorf("check calls more than the one damaged record missing:\n%s", r.stdout)
	}
	if rel := "objects/pack/" + filepath.Base(pack); !strings.Contains(r.stdout, rel) {
		t.Errorf("check does not name %s:\n%s", rel, r.stdout)
	}

	r = runCLI(t, "gc", "-grace", "0s", "-dir", c.Dir)
	if r.code != exitProblems || !strings.Contains(r.stderr, "check -repair") {
		t.Errorf("gc on a damaged pack: exit %d, want %d and a refusal naming check -repair\n%s%s", r.code, exitProblems, r.stdout, r.stderr)
	}
	stillServed("gc")

	runCLICode(t, exitOK, "check", "-repair", "-dir", c.Dir)
	runCLICode(t, exitOK, "check", "-dir", c.Dir)
	stillServed("check -repair")
	runCLICode(t, exitOK, "gc", "-grace", "0s", "-dir", c.Dir)
	stillServed("gc after repair")
	runCLICode(t, exitOK, "check", "-dir", c.Dir)
}
