package manifest

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestTouch: a use recorded with Touch writes no file; it goes out with the
// next Append, at FlushUses or at Close, and another Manifest reads the
// later use. A use of an entry replaced or forgotten meanwhile is dropped.
func TestTouch(t *testing.T) {
	t.Parallel()
	type step func(t *testing.T, m *Manifest)
	appendOther := func(t *testing.T, m *Manifest) { mustAppend(t, m, ent(9, "other")) }
	flush := func(t *testing.T, m *Manifest) {
		if err := m.FlushUses(); err != nil {
			t.Fatal(err)
		}
	}
	closeIt := func(t *testing.T, m *Manifest) {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Another process forgets or replaces the entry, and m's view reads it.
	elsewhere := func(e Entry) step {
		return func(t *testing.T, m *Manifest) {
			o := mustOpen(t, filepath.Dir(filepath.Dir(m.dir)), "f", Options{Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
			mustAppend(t, o, e)
			o.Close()
			if err := m.Refresh(); err != nil {
				t.Fatal(err)
			}
		}
	}
	del := ent(1, "")
	del.Deleted = true
	for _, tc := range []struct {
		name   string
		before step // after the Touch, before the use is written
		write  step
		used   bool // the later use is what another Manifest reads
	}{
		{"with the next append", nil, appendOther, true},
		{"flush", nil, flush, true},
		{"close", nil, closeIt, true},
		{"entry forgotten meanwhile", elsewhere(del), flush, false},
		{"entry replaced meanwhile", elsewhere(ent(1, "new")), flush, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			w := mustOpen(t, root, "f", Options{Now: fakeClock()})
			mustAppend(t, w, ent(1, "v"))
			w.Close()

			m := mustOpen(t, root, "f", Options{Now: fakeClock()})
			e, ok, err := m.Lookup(kh(1))
			if !ok || err != nil {
				t.Fatalf("lookup: %v %v", ok, err)
			}
			js, _ := files(t, filepath.Join(root, "manifests", "f"))
			use := e
			use.Used = e.Time + 7_200_000_000_000
			m.Touch(use)
			if now, _ := files(t, filepath.Join(root, "manifests", "f")); len(now) != len(js) {
				t.Fatalf("Touch wrote a journal: %v, before %v", now, js)
			}
			if tc.before != nil {
				tc.before(t, m)
			}
			tc.write(t, m)

			if !tc.used {
				if m.w != nil {
					t.Errorf("a use of an entry no longer current was written to %s", m.w.name)
				}
				return
			}
			r := mustOpen(t, root, "f", Options{})
			got, ok, err := r.Lookup(kh(1))
			if err != nil || !ok || got.Used != use.Used {
				t.Errorf("another Manifest reads %+v, %v, %v; want the use at %d", got, ok, err, use.Used)
			}
		})
	}
}

// TestTouchBounded: the Touch that makes maxPendingUses pending writes them,
// so a scan of many old entries does not hold them all in memory.
func TestTouchBounded(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	es := make([]Entry, maxPendingUses)
	for i := range es {
		es[i] = ent(i, fmt.Sprint("v", i))
	}
	writeJournal(t, root, "f", es...)
	m := mustOpen(t, root, "f", Options{JournalLimit: 2 * maxPendingUses}) // one journal, not rotated
	for i := range es {
		e, ok, err := m.Lookup(kh(i))
		if !ok || err != nil {
			t.Fatalf("key %d: %v %v", i, ok, err)
		}
		e.Used = e.Time + 1
		m.Touch(e)
		if written := m.w != nil; written != (i == len(es)-1) {
			t.Fatalf("after %d uses: written %v", i+1, written)
		}
	}
	if m.w.count != maxPendingUses {
		t.Errorf("the journal holds %d records, want the %d uses", m.w.count, maxPendingUses)
	}
}
