package manifest

import (
	"path/filepath"
	"testing"
	"time"
)

// TestTouch: a use is written before Touch returns (another Manifest reads
// it while this one stays open, as a process that exits without closing
// leaves it), and a use of an entry replaced or forgotten elsewhere since
// never wins over the newer record.
func TestTouch(t *testing.T) {
	t.Parallel()
	del := ent(1, "")
	del.Deleted = true
	for _, tc := range []struct {
		name      string
		elsewhere *Entry // written by another process after the view served the entry
		want      string // what a fresh view then resolves key 1 to ("": absent)
	}{
		{"entry unchanged", nil, "v"},
		{"entry replaced meanwhile", ptr(ent(1, "new")), "new"},
		{"entry forgotten meanwhile", &del, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			writeJournal(t, root, "f", ent(1, "v"))
			m := mustOpen(t, root, "f", Options{Now: fakeClock()})
			e, ok, err := m.Lookup(kh(1))
			if !ok || err != nil {
				t.Fatalf("lookup: %v %v", ok, err)
			}
			if tc.elsewhere != nil {
				o := mustOpen(t, root, "f", Options{Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
				mustAppend(t, o, *tc.elsewhere)
				o.Close()
			}
			use := e
			use.Used = e.Time + 7_200_000_000_000
			if err := m.Touch(use); err != nil {
				t.Fatal(err)
			}
			r := mustOpen(t, root, "f", Options{}) // m is still open
			got, ok, err := r.Lookup(kh(1))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && ok:
				t.Errorf("a late use brought back a forgotten entry: %+v", got)
			case tc.want != "" && (!ok || got.Result != ent(1, tc.want).Result):
				t.Errorf("key 1 resolves to %+v (%v), want the entry %q", got, ok, tc.want)
			case tc.want == "v" && got.Used != use.Used:
				t.Errorf("another Manifest reads the last use %d, want %d", got.Used, use.Used)
			}
			if js, _ := files(t, filepath.Join(root, "manifests", "f")); len(js) == 0 {
				t.Error("no journal holds the use")
			}
		})
	}
}
