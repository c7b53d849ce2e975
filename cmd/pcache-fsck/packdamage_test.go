package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// packedCache fills a cache with n entries whose results share one sealed
// pack and returns the entries, the pack's path and its records in file
// order.
func packedCache(t *testing.T, name string, n int) (*testCache, []record.Entry, string, []cas.PackedObject) {
	t.Helper()
	dir := t.TempDir()
	if err := layout.New(dir).WriteMarker(); err != nil {
		t.Fatal(err)
	}
	s, err := cas.Open(layout.New(dir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &testCache{T: t, Dir: dir, Store: s}
	es := c.Fill(name, n, nil)
	if err := s.Close(); err != nil { // seals the pack
		t.Fatal(err)
	}
	pis, err := s.ListPacks(nil)
	if err != nil || len(pis) != 1 || !pis[0].Sealed || len(pis[0].Objects) != n {
		t.Fatalf("want one sealed pack of %d records: %+v, %v", n, pis, err)
	}
	return c, es, pis[0].Path, pis[0].Objects
}

// servedValues returns the indexes of es a fresh reader serves with the
// value fill stored; a wrong value fails the test.
func servedValues(t *testing.T, dir, name string, es []record.Entry) map[int]bool {
	t.Helper()
	s, err := cas.Open(layout.New(dir), cas.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := manifest.Open(layout.New(dir), name, manifest.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := map[int]bool{}
	for i, want := range es {
		e, ok, err := m.Lookup(want.KeyHash)
		if err != nil || !ok {
			continue
		}
		b, err := s.Get(e.Result, e.Size)
		if err != nil {
			continue
		}
		if v := fmt.Sprintf("value %d of %s", i, name); !bytes.Equal(b, []byte(v)) {
			t.Fatalf("entry %d served %q, want %q", i, b, v)
		}
		got[i] = true
	}
	return got
}

// TestPackDamageCLI drives check, gc and check -repair over a sealed pack
// damaged each way: a reader serves every record the damage spared, check
// names the pack (never "missing" loose objects), gc refuses a pack whose
// own bytes are damaged instead of deleting what it cannot read, and after
// check -repair every entry served before is still served, check is clean
// and gc runs.
func TestPackDamageCLI(t *testing.T) {
	const n, name = 50, "f"
	const recHeader, hdr = 1 + 32 + 4, 16
	flip := func(off func([]cas.PackedObject) int64, mask byte) func([]byte, []cas.PackedObject) []byte {
		return func(b []byte, recs []cas.PackedObject) []byte { b[off(recs)] ^= mask; return b }
	}
	at := func(i int, d int64) func([]cas.PackedObject) int64 {
		return func(recs []cas.PackedObject) int64 { return recs[i].Offset + d }
	}
	fixed := func(o int64) func([]cas.PackedObject) int64 { return func([]cas.PackedObject) int64 { return o } }
	for _, tc := range []struct {
		name      string
		index     bool
		damage    func([]byte, []cas.PackedObject) []byte
		lost      int  // entries a reader no longer serves
		gcRefuses bool // the pack's own bytes are damaged
	}{
		{"record bytes", false, flip(at(9, recHeader+1), 0x20), 1, false},
		{"record size field", false, flip(at(9, 33), 0x01), 1, true},
		{"record size field, far", false, flip(at(9, 34), 0x04), 1, true},
		{"pack header", false, flip(fixed(4), 0x01), 0, true},
		{"pack header version", false, flip(fixed(hdr-1), 0x01), 0, true},
		{"pack index", true, func(b []byte, _ []cas.PackedObject) []byte { b[len(b)/2] ^= 0x01; return b }, 0, false},
		{"truncated pack", false, func(b []byte, recs []cas.PackedObject) []byte { return b[:recs[40].Offset+3] }, 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, es, pack, recs := packedCache(t, name, n)
			target := pack
			if tc.index {
				target = filepath.Join(filepath.Dir(pack), layout.PackIndexName(filepath.Base(pack)))
			}
			b, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			os.Chmod(target, 0o644) // sealed packs are read-only
			if err := os.WriteFile(target, tc.damage(b, recs), 0o444); err != nil {
				t.Fatal(err)
			}
			before := servedValues(t, c.Dir, name, es)
			if len(before) != n-tc.lost {
				t.Fatalf("a reader serves %d of %d entries after the damage, want %d", len(before), n, n-tc.lost)
			}
			stillServed := func(after string) {
				t.Helper()
				now := servedValues(t, c.Dir, name, es)
				for i := range before {
					if !now[i] {
						t.Errorf("after %s: entry %d is no longer served", after, i)
					}
				}
			}

			r := runCLICode(t, 1, "check", "-dir", c.Dir)
			t.Logf("check:\n%s", r.stdout)
			if strings.Contains(r.stdout, "missing") && tc.lost == 0 {
				t.Errorf("check calls intact packed objects missing:\n%s", r.stdout)
			}
			if strings.Count(r.stdout, "missing") > tc.lost {
				t.Errorf("check calls more than the %d damaged records missing:\n%s", tc.lost, r.stdout)
			}
			rel := "objects/pack/" + filepath.Base(target)
			if !strings.Contains(r.stdout, rel) {
				t.Errorf("check does not name %s:\n%s", rel, r.stdout)
			}

			r = runCLI(t, "gc", "-grace", "0s", "-dir", c.Dir)
			t.Logf("gc: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			if tc.gcRefuses && (r.code == 0 || !strings.Contains(r.stderr, "check -repair")) {
				t.Errorf("gc on a damaged pack: exit %d, want a refusal naming check -repair\n%s%s", r.code, r.stdout, r.stderr)
			}
			stillServed("gc")

			runCLI(t, "check", "-repair", "-dir", c.Dir)
			runCLICode(t, 0, "check", "-dir", c.Dir)
			stillServed("check -repair")

			runCLICode(t, 0, "gc", "-grace", "0s", "-dir", c.Dir)
			stillServed("gc after repair")
			runCLICode(t, 0, "check", "-dir", c.Dir)
			locks, _ := filepath.Glob(filepath.Join(c.Dir, "locks", "packs", "*"))
			if len(locks) > 0 {
				t.Errorf("gc left the lock files of sealed or gone packs: %v", locks)
			}
		})
	}
}
