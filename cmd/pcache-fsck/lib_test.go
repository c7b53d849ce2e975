package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/maintain"
)

// These tests build caches through the public library API, damage or
// maintain them with the real pcache-fsck binary, and then call the cached
// functions again to see what hits and what recomputes.

// squares is a cached function that records which arguments it computed.
type squares struct {
	mu       sync.Mutex
	computed map[int]int
}

func (s *squares) fn(_ context.Context, x int) (string, error) {
	s.mu.Lock()
	if s.computed == nil {
		s.computed = map[int]int{}
	}
	s.computed[x]++
	s.mu.Unlock()
	return fmt.Sprintf("%d squared is %d", x, x*x), nil
}

func (s *squares) recomputed() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for x := range s.computed {
		out = append(out, x)
	}
	sortInts(out)
	return out
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// callAll opens dir, wraps name around sq and calls it for 0..n-1.
func callAll(t *testing.T, dir, name string, n int, sq *squares, opts ...pcache.StoreOption) {
	t.Helper()
	s, err := pcache.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := pcache.Wrap(s, name, sq.fn)
	if err != nil {
		t.Fatal(err)
	}
	for x := 0; x < n; x++ {
		got, err := f.Call(context.Background(), x)
		if err != nil {
			t.Fatalf("Call(%d): %v", x, err)
		}
		if want := fmt.Sprintf("%d squared is %d", x, x*x); got != want {
			t.Fatalf("Call(%d) = %q, want %q", x, got, want)
		}
	}
}

// entriesByKey lists a function's entries with ls -json, keyed by the
// argument as ls renders it: the key is the array [format, version, argument],
// so an int argument x shows as `[1, "", x]` and maps to "x".
func entriesByKey(t *testing.T, dir, name string) map[string]maintain.EntryInfo {
	t.Helper()
	r := runCLICode(t, 0, "ls", name, "-dir", dir, "-json")
	var list []maintain.EntryInfo
	decodeJSON(t, r.stdout, &list)
	out := map[string]maintain.EntryInfo{}
	for _, e := range list {
		k := e.Key
		if i := strings.LastIndex(k, ", "); i >= 0 && strings.HasSuffix(k, "]") {
			k = k[i+2 : len(k)-1]
		}
		out[k] = e
	}
	return out
}

func objPath(t *testing.T, dir, hexID string) string {
	t.Helper()
	id, err := cas.ParseID(hexID)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, filepath.FromSlash(layout.ObjectRel(id)))
}

// objectsExist reports which of the objects hexIDs the cache at dir holds,
// loose or packed.
func objectsExist(t *testing.T, dir string, hexIDs []string) map[string]bool {
	t.Helper()
	st, err := cas.Open(layout.New(dir), cas.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	have := map[string]bool{}
	for _, hexID := range hexIDs {
		id, err := cas.ParseID(hexID)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := st.Has(id)
		if err != nil {
			t.Fatal(err)
		}
		have[hexID] = ok
	}
	return have
}

// flipPacked flips a byte of packed object hexID's bytes in its pack.
func flipPacked(t *testing.T, dir, hexID string) {
	t.Helper()
	st, err := cas.Open(layout.New(dir), cas.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	packs, err := st.ListPacks(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pi := range packs {
		for _, o := range pi.Objects {
			if o.ID.String() == hexID {
				b, _ := os.ReadFile(pi.Path)
				b[o.Offset+37] ^= 0x20 // the first byte after the record header
				os.Chmod(pi.Path, 0o644)
				if err := os.WriteFile(pi.Path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	}
	t.Fatalf("object %s is in no pack", hexID)
}

// The packed variant of the damage test: a flipped byte inside a pack.
func TestLibraryCheckRepairPacked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 20
	callAll(t, dir, "lib/sq", n, &squares{})
	ents := entriesByKey(t, dir, "lib/sq")
	flipPacked(t, dir, ents["0"].Result)
	r := runCLICode(t, 1, "check", "-dir", dir)
	if !strings.Contains(r.stdout, "hash-mismatch objects/pack/") {
		t.Errorf("check does not report the damaged packed object:\n%s", r.stdout)
	}
	r = runCLICode(t, 0, "check", "-repair", "-dir", dir)
	if !strings.Contains(r.stdout, "quarantined objects/pack/") {
		t.Errorf("repair does not salvage the pack:\n%s", r.stdout)
	}
	runCLICode(t, 0, "check", "-dir", dir)
	sq := &squares{}
	callAll(t, dir, "lib/sq", n, sq)
	if got := sq.recomputed(); fmt.Sprint(got) != "[0]" {
		t.Errorf("recomputed %v, want [0]", got)
	}
	runCLICode(t, 0, "check", "-dir", dir)
}

func TestLibraryCheckRepairRecomputesOnlyTheDamaged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 20
	loose := pcache.PackLimit(0) // damaged by hand, one file per object
	callAll(t, dir, "lib/sq", n, &squares{}, loose)
	callAll(t, dir, "lib/other", 3, &squares{}, loose)
	ents := entriesByKey(t, dir, "lib/sq")
	if len(ents) != n {
		t.Fatalf("ls shows %d entries, want %d: %v", len(ents), n, ents)
	}

	flipByte(t, objPath(t, dir, ents["0"].Result))
	if err := os.Remove(objPath(t, dir, ents["1"].Result)); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp", "crashed.1.cafe.tmp")
	os.WriteFile(tmp, []byte("partial"), 0o644)
	old := time.Now().Add(-3 * time.Hour)
	os.Chtimes(tmp, old, old)
	if !truncateJournal(t, dir, "lib/sq") {
		t.Fatal("lib/sq has no journal to tear")
	}

	r := runCLICode(t, 1, "check", "-dir", dir)
	for _, kind := range []string{"hash-mismatch objects/", "missing objects/", "stale-temp tmp/crashed.1.cafe.tmp: ", "torn-tail manifests/lib/sq/"} {
		if !strings.Contains(r.stdout, "\n"+kind) && !strings.HasPrefix(r.stdout, kind) {
			t.Errorf("check does not report %q:\n%s", kind, r.stdout)
		}
	}
	runCLICode(t, 0, "check", "-repair", "-dir", dir)
	runCLICode(t, 0, "check", "-dir", dir)

	// The two damaged objects and the torn last record recompute; the rest hit.
	sq := &squares{}
	callAll(t, dir, "lib/sq", n, sq)
	if got := sq.recomputed(); fmt.Sprint(got) != fmt.Sprint([]int{0, 1, n - 1}) {
		t.Errorf("recomputed %v, want [0 1 %d]", got, n-1)
	}
	// lib/other computed the same results for 0 and 1, so it shared the two
	// damaged objects: those two entries recompute too, its third hits.
	other := &squares{}
	callAll(t, dir, "lib/other", 3, other)
	if got := other.recomputed(); fmt.Sprint(got) != "[0 1]" {
		t.Errorf("lib/other recomputed %v, want [0 1] (the shared objects)", got)
	}
	runCLICode(t, 0, "check", "-dir", dir)
}

func TestLibraryGCAfterRm(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 1000
	callAll(t, dir, "lib/sq", n, &squares{})
	ents := entriesByKey(t, dir, "lib/sq")
	args := []string{"rm", "lib/sq", "-dir", dir}
	removed := map[string]bool{}
	for x := 0; x < 300; x++ {
		k := strconv.Itoa(x * 3) // every third key
		args = append(args, "-key", ents[k].KeyHash)
		removed[ents[k].Result] = true
	}
	r := runCLICode(t, 0, args...)
	if !strings.Contains(r.stdout, "rm: removed 300 entries of lib/sq") {
		t.Fatalf("rm:\n%s", r.stdout)
	}
	r = runCLICode(t, 0, "gc", "-grace", "0s", "-dir", dir, "-json")
	var rep maintain.GCReport
	decodeJSON(t, r.stdout, &rep)
	if rep.ObjectsRemoved != 300 || rep.EntriesKept != 700 {
		t.Errorf("gc %+v", rep)
	}
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Result)
	}
	have := objectsExist(t, dir, ids)
	for _, e := range ents {
		if gone := !have[e.Result]; gone != removed[e.Result] {
			t.Errorf("object of key %s: gone=%v", e.Key, gone)
		}
	}
	// All 700 remaining entries hit: calling them under ErrorOnMiss succeeds.
	s, err := pcache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sq := &squares{}
	f := pcache.MustWrap(s, "lib/sq", sq.fn)
	ctx := pcache.ErrorOnMiss(context.Background())
	for x := 0; x < n; x++ {
		_, err := f.Call(ctx, x)
		if want := x%3 == 0 && x < 900; errors.Is(err, pcache.ErrCacheMiss) != want {
			t.Fatalf("Call(%d): err=%v, want miss=%v", x, err, want)
		}
	}
	runCLICode(t, 0, "check", "-dir", dir)
}

func TestLibraryExportImport(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	callAll(t, src, "lib/sq", 30, &squares{})
	tarPath := filepath.Join(t.TempDir(), "sq.tar")
	runCLICode(t, 0, "export", "lib/sq", tarPath, "-dir", src)
	dst := filepath.Join(t.TempDir(), "new-cache")
	runCLICode(t, 0, "init", "-dir", dst)
	runCLICode(t, 0, "import", tarPath, "lib/renamed", "-dir", dst)

	sq := &squares{}
	callAll(t, dst, "lib/renamed", 30, sq)
	if got := sq.recomputed(); len(got) != 0 {
		t.Errorf("imported function recomputed %v", got)
	}
	r := runCLICode(t, 0, "stats", "-dir", dst, "-json")
	var st maintain.StatsReport
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Functions) != 1 || st.Functions[0].Entries != 30 {
		t.Errorf("stats after import: %+v %v", st, err)
	}
	runCLICode(t, 0, "check", "-dir", dst)
}
