package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/archive"
	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/testutil/testcache"
)

func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	src := newTestCache(t)
	src.Fill("proj/f", 50, nil)
	src.Fill("other", 5, nil)
	tarPath := filepath.Join(t.TempDir(), "f.tar")
	r := runCLICode(t, 0, "export", "proj/f", tarPath, "-dir", src.Dir)
	if !strings.Contains(r.stdout, "export: wrote 50 entries and 50 objects") {
		t.Errorf("export output:\n%s", r.stdout)
	}

	dst := filepath.Join(t.TempDir(), "fresh")
	r = runCLICode(t, 1, "import", tarPath, "renamed/f", "-dir", dst) // not a cache (yet): a failure, not a usage error
	if !strings.Contains(r.stderr, "not a cache directory") || fileExists(dst) {
		t.Fatalf("import into a missing directory: %s (created: %v)", r.stderr, fileExists(dst))
	}
	runCLICode(t, 0, "init", "-dir", dst)
	r = runCLICode(t, 0, "import", tarPath, "renamed/f", "-dir", dst, "-json")
	var rep archive.ImportReport
	decodeJSON(t, r.stdout, &rep)
	if rep.Name != "renamed/f" || rep.Entries != 50 || rep.Objects != 50 || rep.NewObjects != 50 {
		t.Fatalf("import report %+v", rep)
	}
	c := testcache.Open(t, dst, cas.Options{})
	for i := 0; i < 50; i++ {
		if !c.Hit("renamed/f", fmt.Sprintf("k%d", i)) {
			t.Errorf("imported k%d misses", i)
		}
	}
	runCLICode(t, 0, "check", "-dir", dst)

	// Importing again under the original name shares the objects.
	r = runCLICode(t, 0, "import", tarPath, "-dir", dst)
	if !strings.Contains(r.stdout, "import: added 50 entries to proj/f; 50 objects verified (") || !strings.Contains(r.stdout, ", 0 new)") {
		t.Errorf("second import:\n%s", r.stdout)
	}
	// Into the function that now holds them: the import says what it overrides.
	r = runCLICode(t, 0, "import", tarPath, "renamed/f", "-dir", dst)
	if !strings.Contains(r.stdout, "import: renamed/f already held 50 of these entries (unchanged)") {
		t.Errorf("import over existing entries does not say what it overrides:\n%s", r.stdout)
	}
}

// TestImportRejectsBadArchives: import of an archive that is not a valid
// export (here one cut short) exits 1 saying so, never with a bare tar
// error, and adds nothing. (The maintenance library's test of the same name
// refuses every kind of bad archive.)
func TestImportRejectsBadArchives(t *testing.T) {
	t.Parallel()
	src := newTestCache(t)
	src.Fill("f", 2, nil)
	good := filepath.Join(t.TempDir(), "good.tar")
	runCLICode(t, 0, "export", "f", good, "-dir", src.Dir)
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "cut.tar")
	if err := os.WriteFile(bad, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	runCLICode(t, 0, "init", "-dir", dst)
	r := runCLICode(t, 1, "import", bad, "-dir", dst)
	if !strings.Contains(r.stderr, "not a valid pcache export: ") || strings.Contains(r.stderr, "invalid tar header") {
		t.Errorf("stderr: %s", r.stderr)
	}
	if names, _ := manifest.List(layout.New(dst)); len(names) != 0 {
		t.Errorf("a rejected import added functions %v", names)
	}
}
