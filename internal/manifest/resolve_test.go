package manifest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
)

// writeSeg writes the given entries (resolved per key) as a segment of name.
func writeSeg(t testing.TB, root, name string, es ...Entry) string {
	t.Helper()
	dir, err := manifestDir(layout.New(root), name)
	if err != nil {
		t.Fatal(err)
	}
	mem := make(map[[32]byte]*rec)
	for _, e := range es {
		raw, err := record.Encode(&e)
		if err != nil {
			t.Fatal(err)
		}
		mergeInto(mem, &rec{e: e, raw: raw})
	}
	src := newSliceSource(mem)
	n, err := writeSegment(filepath.Join(root, "tmp"), dir, name, len(src.recs), func(i int) (*record.KeyHash, []byte, error) {
		return &src.recs[i].e.KeyHash, src.recs[i].raw, nil
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writeJournal writes the entries to a new journal of name (a Manifest that
// then closes).
func writeJournal(t testing.TB, root, name string, es ...Entry) {
	t.Helper()
	m, err := Open(layout.New(root), name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Append(es...); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestResolution(t *testing.T) {
	t.Parallel()
	put := func(v string, tm int64) Entry { e := ent(7, v); e.Time = tm; return e }
	tomb := func(tm int64) Entry { return Entry{KeyHash: kh(7), Time: tm, Deleted: true} }
	// For equal times the canonical encoding decides; compute which is
	// greater so the table states the rule, not an accident of the values.
	greater := func(a, b Entry) Entry {
		ea, _ := record.Encode(&a)
		eb, _ := record.Encode(&b)
		if bytes.Compare(ea, eb) > 0 {
			return a
		}
		return b
	}
	tests := []struct {
		name string
		a, b Entry
		want *Entry // nil: absent
	}{
		{"put/put newer wins", put("old", 10), put("new", 20), ptr(put("new", 20))},
		{"put/put newer first", put("new", 20), put("old", 10), ptr(put("new", 20))},
		{"put then tombstone", put("x", 10), tomb(20), nil},
		{"tombstone then put", tomb(10), put("x", 20), ptr(put("x", 20))},
		{"same time tie-break", put("p", 10), put("q", 10), ptr(greater(put("p", 10), put("q", 10)))},
		{"same time put/tombstone", put("p", 10), tomb(10), nilIfDeleted(greater(put("p", 10), tomb(10)))},
	}
	// Each layout puts a and b in different files (or one) in some order.
	layouts := []struct {
		name  string
		write func(t *testing.T, root string, a, b Entry)
	}{
		{"one journal a,b", func(t *testing.T, root string, a, b Entry) { writeJournal(t, root, "f", a, b) }},
		{"one journal b,a", func(t *testing.T, root string, a, b Entry) { writeJournal(t, root, "f", b, a) }},
		{"two journals", func(t *testing.T, root string, a, b Entry) {
			writeJournal(t, root, "f", a)
			writeJournal(t, root, "f", b)
		}},
		{"two journals reversed", func(t *testing.T, root string, a, b Entry) {
			writeJournal(t, root, "f", b)
			writeJournal(t, root, "f", a)
		}},
		{"segment a, journal b", func(t *testing.T, root string, a, b Entry) { writeSeg(t, root, "f", a); writeJournal(t, root, "f", b) }},
		{"segment b, journal a", func(t *testing.T, root string, a, b Entry) { writeSeg(t, root, "f", b); writeJournal(t, root, "f", a) }},
		{"two segments", func(t *testing.T, root string, a, b Entry) { writeSeg(t, root, "f", a); writeSeg(t, root, "f", b) }},
		{"one segment", func(t *testing.T, root string, a, b Entry) { writeSeg(t, root, "f", a, b) }},
	}
	for _, tc := range tests {
		for _, lay := range layouts {
			t.Run(fmt.Sprintf("%s/%s", tc.name, lay.name), func(t *testing.T) {
				root := t.TempDir()
				lay.write(t, root, tc.a, tc.b)
				check := func(stage string) {
					m := mustOpen(t, root, "f", Options{})
					defer m.Close()
					got, ok, err := m.Lookup(kh(7))
					if err != nil {
						t.Fatal(err)
					}
					switch {
					case tc.want == nil && ok:
						t.Fatalf("%s: got %+v, want absent", stage, got)
					case tc.want != nil && !ok:
						t.Fatalf("%s: absent, want %+v", stage, *tc.want)
					case tc.want != nil && (got.Result != tc.want.Result || got.Time != tc.want.Time):
						t.Fatalf("%s: got result %s at %d, want %s at %d", stage, got.Result, got.Time, tc.want.Result, tc.want.Time)
					}
					if n := len(allEntries(t, m)); (n == 1) != (tc.want != nil) {
						t.Fatalf("%s: Iterate found %d entries", stage, n)
					}
				}
				check("before compaction")
				m := mustOpen(t, root, "f", Options{})
				if err := m.Compact(true); err != nil {
					t.Fatal(err)
				}
				m.Close()
				check("after compaction")
			})
		}
	}
}

func ptr(e Entry) *Entry { return &e }

func nilIfDeleted(e Entry) *Entry {
	if e.Deleted {
		return nil
	}
	return &e
}

// TestForgetAllOfATypeKeepsOtherTypes: ForgetAll with a result type forgets
// the entries of that type and those of no recorded type, and keeps those of
// other types, in a live view, in a new view, after a full compaction, and
// in Resolve; an entry of that type written afterwards lives.
func TestForgetAllOfATypeKeepsOtherTypes(t *testing.T) {
	t.Parallel()
	typeA, typeB := [32]byte{'A'}, [32]byte{'B'}
	typed := func(i int, y [32]byte) Entry { e := ent(i, fmt.Sprint("v", i)); e.Type = y; return e }
	root := t.TempDir()
	m := mustOpen(t, root, "f", Options{})
	mustAppend(t, m, typed(1, typeA), typed(2, typeB), ent(3, "legacy"))
	if err := m.ForgetAll(typeA); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, m, typed(4, typeA))
	want := func(m *Manifest, where string) {
		t.Helper()
		for i, live := range map[int]bool{1: false, 2: true, 3: false, 4: true} {
			if _, ok := lookup(t, m, i); ok != live {
				t.Errorf("%s: key %d live %v, want %v", where, i, ok, live)
			}
		}
	}
	want(m, "live view")
	m2 := mustOpen(t, root, "f", Options{})
	want(m2, "new view")
	m.Close()
	if err := m2.Compact(true); err != nil {
		t.Fatal(err)
	}
	m2.Close()
	want(mustOpen(t, root, "f", Options{}), "after a full compaction")

	es := append([]Entry{typed(1, typeA), typed(2, typeB), ent(3, "legacy")}, record.ForgetTypes(typeA)...)
	for i := range es {
		if es[i].Time == 0 {
			es[i].Time = 100
		}
	}
	es = append(es, typed(4, typeA))
	es[len(es)-1].Time = 200
	kept := map[string]bool{}
	for _, e := range Resolve(es) {
		if !record.IsForget(&e) {
			kept[string(e.Key)] = true
		}
	}
	if len(kept) != 2 || !kept["key-2"] || !kept["key-4"] {
		t.Errorf("Resolve kept %v, want key-2 and key-4", kept)
	}
}
