package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/s3server"
	"github.com/pcache/pcache/internal/testutil"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" { // a child re-executed by runChild
		os.Exit(childMain(spec))
	}
	os.Exit(testutil.Run(m))
}

// TestQuick runs the whole suite in -quick mode and checks that the report
// has every scenario's row, measured, and that the scratch data is gone.
func TestQuick(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	// The pcache-fsck the check row measures: the tests' shared build,
	// rather than one the harness links anew for every run.
	fsck := testutil.Tool(t, "cmd/pcache-fsck")
	if code := run(context.Background(), []string{"-quick", "-json", "-dir", dir, "-fsck", fsck}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s\nstdout:\n%s", code, errb.String(), out.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	byID := map[string]Row{}
	for _, r := range rep.Rows {
		byID[r.ID] = r
	}
	// Rows that need a tool this machine may lack: the python peers are
	// skipped without python3 and diskcache (or joblib, or $PERMACACHE_SRC),
	// the S3 rows of the remote tier without versitygw, the system-call
	// rows are errors without strace.
	mayLack := map[string]string{}
	for _, g := range groups {
		for _, id := range g.ids {
			switch {
			case g.name == "peers" || g.name == "multiproc" && id != "multiproc-computes":
				mayLack[id] = "skipped"
			case g.name == "remote" && id != "remote-hit-file":
				if s3server.Binary() == "" {
					mayLack[id] = "skipped"
				}
			case g.name == "syscalls":
				if _, err := exec.LookPath("strace"); err != nil {
					mayLack[id] = "error"
				}
			}
		}
	}
	for _, id := range allIDs() {
		r, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("no row %q", id)
		case r.Status == "skipped" && mayLack[id] == "skipped":
			t.Logf("row %q: skipped: %s", id, r.Skip)
		case r.Status == "error" && mayLack[id] == "error" && strings.Contains(r.Error, "strace not found"):
			t.Logf("row %q: %s", id, r.Error)
		case r.Status != "pass" && r.Status != "MISS" && r.Status != "info":
			t.Errorf("row %q: status %q (%s%s)", id, r.Status, r.Error, r.Skip)
		case id == "syscalls-hit": // about 0, and may come out a little below
			if math.IsNaN(r.Result) || r.Result < -1 {
				t.Errorf("row %q: result %v", id, r.Result)
			}
		case !(r.Result > 0):
			t.Errorf("row %q: result %v", id, r.Result)
		}
	}
	if len(rep.Rows) != len(allIDs()) {
		t.Errorf("%d rows, want %d", len(rep.Rows), len(allIDs()))
	}

	// The markdown table renders the same rows, one line each.
	var md bytes.Buffer
	if err := rep.writeMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(md.String(), "\n") {
		if strings.HasPrefix(l, "| ") && !strings.HasPrefix(l, "| scenario") {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(rep.Rows) {
		t.Errorf("markdown has %d rows, want %d:\n%s", len(lines), len(rep.Rows), md.String())
	}
	for i, r := range rep.Rows {
		if i < len(lines) && !strings.Contains(lines[i], mdEscape(r.Scenario)) {
			t.Errorf("markdown row %d is %q, want scenario %q", i, lines[i], r.Scenario)
		}
	}

	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("scratch data left in -dir: %v", left)
	}
}

// TestUsage checks that bad flags and arguments are usage errors.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-run", "("}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestRowStatus(t *testing.T) {
	for _, c := range []struct {
		r    Row
		want string
	}{
		{Row{Result: 3, FloorValue: 2, Target: &Target{"ratio", "<=", 2, ""}}, "pass"},
		{Row{Result: 5, FloorValue: 2, Target: &Target{"ratio", "<=", 2, ""}}, "MISS"},
		{Row{Result: 1, FloorValue: 2, Target: &Target{"ratio", ">=", 0.7, ""}}, "MISS"},
		{Row{Result: 2e9, Target: &Target{"value", ">=", 1e9, ""}}, "pass"},
		{Row{Result: 11e3, Target: &Target{"value", "<=", 10e3, ""}}, "MISS"},
		{Row{Result: 1}, "info"},
		{Row{Error: "boom"}, "error"},
		{Row{Result: 1, Skip: "no peer", Target: &Target{"ratio", "<=", 2, ""}}, "skipped"},
	} {
		c.r.finish()
		if c.r.Status != c.want {
			t.Errorf("%+v: status %q, want %q", c.r, c.r.Status, c.want)
		}
	}
}
