package retire_test

import (
	"os"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/retire"
)

// TestSummary: a directory's summary gives back the records written into
// it (of that directory only), Names lists the records (not the summary),
// and a summary that is cut short, of another directory, or naming a file
// retire never keeps is no summary.
func TestSummary(t *testing.T) {
	d := layout.New(t.TempDir())
	for _, p := range []string{d.Tmp(), d.Manifest("fn")} {
		if err := os.MkdirAll(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	j := d.Manifest("fn") + "/j-h.1.ab.pcj"
	if err := os.WriteFile(j, []byte("journal"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, ok := retire.RetireRecord(d, j, time.Now())
	if !ok {
		t.Fatal("not retired")
	}
	other := retire.Record{Rel: "manifests/other/j-h.2.ab.pcj", At: time.Now(), Size: 1}
	rel := d.Rel(d.Manifest("fn"))
	if err := retire.WriteSummary(d, rel, []retire.Record{r, other}); err != nil {
		t.Fatal(err)
	}
	s := retire.ReadSummary(d, rel)
	if !s.Has("j-h.1.ab.pcj") || !s.Unchanged(d, "j-h.1.ab.pcj") || s.Has("j-h.2.ab.pcj") {
		t.Fatalf("summary %+v, want just %+v, unchanged", s, r)
	}
	if names := retire.Names(d); len(names) != 1 || !names[layout.RetiredRecordHash([]byte(r.Rel))] {
		t.Fatalf("Names = %v, want the record of %s alone", names, r.Rel)
	}
	if retire.ReadSummary(d, "manifests/other") != nil {
		t.Fatal("a directory without a summary has one")
	}
	f, err := os.OpenFile(j, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("appended by a sync")
	f.Close()
	if s.Unchanged(d, "j-h.1.ab.pcj") {
		t.Fatal("a journal appended to since is unchanged")
	}

	b, err := os.ReadFile(d.RetiredSummary(rel))
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"cut short":    string(b[:len(b)-1]),
		"other dir":    "pcache-retired-summary 1\nmanifests/other\n1 2 3 j-h.1.ab.pcj\n",
		"not syncable": "pcache-retired-summary 1\n" + rel + "\n1 2 3 notes.txt\n",
		"bad number":   "pcache-retired-summary 1\n" + rel + "\n1 x 3 j-h.1.ab.pcj\n",
		"outside":      "pcache-retired-summary 1\n" + rel + "\n1 2 3 ../../objects/pack/h.1.ab.pcp\n",
		"no fields":    "pcache-retired-summary 1\n" + rel + "\nj-h.1.ab.pcj\n",
	} {
		if err := os.WriteFile(d.RetiredSummary(rel), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if s := retire.ReadSummary(d, rel); s != nil {
			t.Errorf("%s: summary %+v, want none", name, s)
		}
	}

	if err := retire.WriteSummary(d, rel, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.RetiredSummary(rel)); !os.IsNotExist(err) {
		t.Fatalf("an empty summary stays: %v", err)
	}
}
