package manifest

import (
	"reflect"
	"testing"

	"github.com/pcache/pcache/internal/layout"
)

// Two caches written independently and copied into each other both ways
// (like rsync -a A/ B/ and back, without --delete) hold the union of their
// entries, and resolve conflicting keys identically, before and after
// compactions on either side.
func TestRsyncUnion(t *testing.T) {
	t.Parallel()
	rootA, rootB := t.TempDir(), t.TempDir()
	mA := mustOpen(t, rootA, "fn/v1", Options{})
	mB := mustOpen(t, rootB, "fn/v1", Options{})
	for i := 0; i < 100; i++ {
		mustAppend(t, mA, ent(i, "a"))
		mustAppend(t, mB, ent(100+i, "b"))
	}
	// Conflicts: key 500 written on both sides at different times, key 501
	// at the same time (the tie-break decides), key 502 deleted on A after B
	// wrote it.
	c1, c2 := ent(500, "a-old"), ent(500, "b-new")
	c1.Time, c2.Time = 1000, 2000
	d1, d2 := ent(501, "a-tie"), ent(501, "b-tie")
	d1.Time, d2.Time = 3000, 3000
	e2 := ent(502, "b")
	e2.Time = 4000
	mustAppend(t, mA, c1, d1)
	mustAppend(t, mB, c2, d2, e2)
	if err := mA.Append(Entry{KeyHash: kh(502), Time: 5000, Deleted: true}); err != nil {
		t.Fatal(err)
	}

	// Copy while both writers are live (their journals are copied as they are).
	copyTree(t, rootA, rootB)
	copyTree(t, rootB, rootA)
	want := checkUnion(t, rootA, rootB, nil)

	// Compact one side fully, copy both ways again: still the same union.
	mA.Close()
	cA := mustOpen(t, rootA, "fn/v1", Options{})
	if err := cA.Compact(true); err != nil {
		t.Fatal(err)
	}
	cA.Close()
	copyTree(t, rootA, rootB)
	copyTree(t, rootB, rootA)
	checkUnion(t, rootA, rootB, want)

	// B writes more and compacts; A is copied over it again; both compact.
	mustAppend(t, mB, ent(600, "b-late"))
	mB.Close()
	for _, r := range []string{rootB, rootA} {
		c := mustOpen(t, r, "fn/v1", Options{})
		if err := c.Compact(true); err != nil {
			t.Fatal(err)
		}
		c.Close()
		copyTree(t, rootB, rootA)
		copyTree(t, rootA, rootB)
	}
	want[kh(600)] = ent(600, "b-late")
	checkUnion(t, rootA, rootB, want)

	// Holding the same records, both sides compact fully to the very same
	// segment file, so another sync has nothing to transfer.
	var segs [2][]string
	for i, r := range []string{rootA, rootB} {
		c := mustOpen(t, r, "fn/v1", Options{})
		if err := c.Compact(true); err != nil {
			t.Fatal(err)
		}
		c.Close()
		var js []string
		js, segs[i] = files(t, c.dir)
		if len(js) != 0 || len(segs[i]) != 1 {
			t.Fatalf("%s after full compaction: %v %v", r, js, segs[i])
		}
	}
	if segs[0][0] != segs[1][0] {
		t.Fatalf("the two sides compacted to different segments: %v", segs)
	}

	// A tombstone survives compaction: an older record for the key arriving
	// later (here: written directly with an old time) does not revive it.
	old := ent(502, "b-stale")
	old.Time = 4500
	writeJournal(t, rootA, "fn/v1", old)
	checkUnion(t, rootA, rootA, want)
}

// checkUnion checks that both roots hold the same entries, and that those
// are want (when given) or the expected union.
func checkUnion(t *testing.T, rootA, rootB string, want map[[32]byte]Entry) map[[32]byte]Entry {
	t.Helper()
	a := mustOpen(t, rootA, "fn/v1", Options{ReadOnly: true})
	b := mustOpen(t, rootB, "fn/v1", Options{ReadOnly: true})
	defer a.Close()
	defer b.Close()
	ea, eb := allEntries(t, a), allEntries(t, b)
	if !reflect.DeepEqual(ea, eb) {
		t.Fatalf("the two sides differ: %d vs %d entries", len(ea), len(eb))
	}
	if want == nil {
		if len(ea) != 202 { // 200 + keys 500 and 501; 502 deleted
			t.Fatalf("union has %d entries, want 202", len(ea))
		}
		for i := 0; i < 100; i++ {
			wantResult(t, a, i, "a")
			wantResult(t, b, 100+i, "b")
		}
		wantResult(t, a, 500, "b-new")
		wantResult(t, b, 500, "b-new")
		wantAbsent(t, a, 502)
		tie := a.mustLookup(t, 501)
		if tie.Result != b.mustLookup(t, 501).Result {
			t.Fatal("tie resolved differently on the two sides")
		}
		return ea
	}
	for h, e := range want {
		got, ok := ea[h]
		if !ok || got.Result != e.Result {
			t.Fatalf("key %x: got %+v, want result %s", h[:4], got, e.Result)
		}
	}
	if len(ea) != len(want) {
		t.Fatalf("%d entries, want %d", len(ea), len(want))
	}
	for _, r := range []string{rootA, rootB} {
		if ps, err := Check(layout.New(r), "fn/v1"); err != nil || len(ps) != 0 {
			t.Fatalf("Check %s: %v %v", r, ps, err)
		}
	}
	return want
}

func (m *Manifest) mustLookup(t *testing.T, i int) Entry {
	t.Helper()
	e, ok := lookup(t, m, i)
	if !ok {
		t.Fatalf("key %d missing", i)
	}
	return e
}
