package maintain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/testutil"
	"github.com/pcache/pcache/internal/testutil/testcache"
)

// TestDamagedMarkers: a damaged pcache.json in a cache — cut short, a
// flipped version digit, empty, or something planted there (a FIFO, a link
// to a file outside, a 1 TiB sparse file) — is damage, not "no pcache.json"
// and not "a newer pcache": Open accepts the cache and says what is wrong
// (the library keeps using the cache meanwhile); check reports it, without
// hanging on or following it, as an error a repair fixes; the repair
// rewrites it, loses no entry and leaves the file a link pointed at alone.
func TestDamagedMarkers(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	good, err := os.ReadFile(filepath.Join(c.Dir(), layout.MarkerFile))
	if err != nil {
		t.Fatal(err)
	}
	write := func(content string) func(t *testing.T, p string) {
		return func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var outside, outsideBefore string
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, p string)
	}{
		{"truncated", write(string(good[:len(good)/2]))},
		{"flipped version digit", write(strings.Replace(string(good), `"version":1`, `"version":3`, 1))},
		{"empty", write("")},
		{"fifo", func(t *testing.T, p string) {
			if err := testutil.Mkfifo(p); err != nil {
				t.Skip("no FIFOs here:", err)
			}
		}},
		{"link", func(t *testing.T, p string) {
			outside, outsideBefore = testutil.OutsideDir(t)
			if err := os.Symlink(filepath.Join(outside, "passwd"), p); err != nil {
				t.Fatal(err)
			}
		}},
		{"giant sparse file", func(t *testing.T, p string) {
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(1 << 40); err != nil {
				t.Skip("no sparse files here:", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outside, outsideBefore = "", ""
			c := testcache.New(t, testcache.Loose)
			c.Fill("f", 3, nil)
			marker := filepath.Join(c.Dir, layout.MarkerFile)
			os.Remove(marker)
			tc.plant(t, marker)

			o := mustOpen(t, c.Dir)
			if err := o.MarkerProblem(); !errors.Is(err, ErrDamagedMarker) {
				t.Fatalf("MarkerProblem: %v, want ErrDamagedMarker", err)
			}
			rep := check(t, c.Dir, false)
			bad := findingsOf(rep, KindBadMarker)
			if rep.Clean || len(bad) != 1 || bad[0].Path != layout.MarkerFile || bad[0].Severity != SevError ||
				!slices.Equal(rep.Next, []Fix{FixRepair}) {
				t.Fatalf("check of a damaged marker: next %q\n%s", rep.Next, findings(rep))
			}
			for _, wrong := range []string{"has no pcache.json", "newer", "upgrade"} {
				if strings.Contains(findings(rep), wrong) {
					t.Errorf("a damaged marker reported as missing or newer (%q):\n%s", wrong, findings(rep))
				}
			}

			rep = check(t, c.Dir, true)
			if rep.Repair == nil || len(rep.Repair.Actions) == 0 || rep.Repair.Actions[0].Path != layout.MarkerFile {
				t.Errorf("the repair does not rewrite the marker:\n%s", findings(rep))
			}
			mustBeClean(t, c.Dir, "the repair")
			if _, err := layout.New(c.Dir).CheckMarker(); err != nil {
				t.Errorf("after the repair: %v", err)
			}
			if fi, err := os.Lstat(marker); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("after the repair, the marker is %v (%v), want a regular file", fi.Mode(), err)
			}
			if !c.Hit("f", "k0") {
				t.Error("repairing the marker lost an entry")
			}
			if outside != "" {
				if after := testutil.Snapshot(t, outside); after != outsideBefore {
					t.Errorf("the repair changed the file the link pointed at:\nbefore\n%s\nafter\n%s", outsideBefore, after)
				}
			}
		})
	}
}

// A dry-run plan needs no write access and cannot be executed.
func TestDryRunPlanDoesNotExecute(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	p, err := c.PlanGC(context.Background(), GCOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Report.DryRun {
		t.Error("a dry-run plan's report is not a dry run")
	}
	if _, err := p.Execute(context.Background()); err == nil {
		t.Fatal("a dry-run plan executed")
	}
}
