package maintain

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/layout"
)

// The library's errors are typed and name what fixes them in its own terms:
// never a pcache-fsck command line (Store.Check and Store.GC return them to
// programs that have no CLI). pcache-fsck turns them into commands.
func noCLI(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "pcache-fsck") {
		t.Errorf("%s: the library's message names the CLI: %v", what, err)
	}
}

// damagedFix checks that err is a *DamagedError of dir naming path whose
// fix is a check with repair.
func damagedFix(t *testing.T, what string, err error, dir, path string) *DamagedError {
	t.Helper()
	var de *DamagedError
	if !errors.As(err, &de) {
		t.Fatalf("%s: %v, want a *DamagedError", what, err)
	}
	if de.Fix != FixRepair || de.Dir != dir || de.Path != path || de.Problem == "" && de.Err == nil {
		t.Errorf("%s: %+v, want Fix %q, Dir %s, Path %s and a problem", what, de, FixRepair, dir, path)
	}
	if !strings.Contains(err.Error(), string(FixRepair)) {
		t.Errorf("%s: the message does not say what fixes it: %v", what, err)
	}
	noCLI(t, what, err)
	return de
}

func TestInitOfDamagedMarkerIsDamagedError(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	d := layout.New(c.Dir())
	os.MkdirAll(d.Objects(), 0o777)
	os.WriteFile(d.Marker(), []byte(`{"format":"pcache-ca`), 0o644)
	_, err := Init(c.Dir())
	damagedFix(t, "Init", err, c.Dir(), layout.MarkerFile)
	if !errors.Is(err, ErrDamagedMarker) {
		t.Errorf("Init: %v, want it to wrap ErrDamagedMarker", err)
	}
}

// gc refuses a cache whose manifest has problems, naming it.
func TestGCRefusalIsDamagedError(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.fill("f", 3)
	c.fill("f", 1) // a journal of its own, the smallest
	js, _ := filepath.Glob(filepath.Join(c.Dir(), "manifests", "f", "j-*.pcj"))
	if len(js) == 0 {
		t.Skip("manifest keeps no journal")
	}
	slices.SortFunc(js, func(a, b string) int {
		fa, _ := os.Stat(a)
		fb, _ := os.Stat(b)
		return int(fa.Size() - fb.Size())
	})
	fi, _ := os.Stat(js[0])
	if err := os.Truncate(js[0], fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{true, false} {
		_, err := c.PlanGC(context.Background(), GCOptions{DryRun: dry})
		de := damagedFix(t, "PlanGC", err, c.Dir(), c.d.Rel(js[0]))
		if !strings.HasPrefix(err.Error(), "refusing to collect: manifest f has ") {
			t.Errorf("PlanGC: %v", err)
		}
		if !strings.HasPrefix(de.Problem, "manifest f has ") {
			t.Errorf("PlanGC: problem %q", de.Problem)
		}
	}
}

// gc refuses a cache with a link planted where it keeps a directory: the
// error is a *DamagedError that still wraps ErrUnsafe and the link's
// *layout.Planted.
func TestGCRefusalOfPlantedLinkIsDamagedError(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	d := layout.New(c.Dir())
	os.RemoveAll(d.Tmp())
	if err := os.Symlink(t.TempDir(), d.Tmp()); err != nil {
		t.Fatal(err)
	}
	o, err := Open(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.PlanGC(context.Background(), GCOptions{})
	damagedFix(t, "PlanGC", err, c.Dir(), layout.TmpDir)
	if !errors.Is(err, ErrUnsafe) {
		t.Errorf("PlanGC: %v, want it to wrap ErrUnsafe", err)
	}
	if _, ok := errors.AsType[*layout.Planted](err); !ok {
		t.Errorf("PlanGC: %v, want it to wrap the *layout.Planted", err)
	}
}

// What a caller passed in that is not there, or not well formed.
func TestInputErrorsAreTyped(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.fill("f", 1)
	err := c.HasFunction("nope")
	var nf *NoFunctionError
	if !errors.As(err, &nf) || nf.Name != "nope" || nf.Dir != c.Dir() {
		t.Errorf("HasFunction: %v, want a *NoFunctionError", err)
	}
	noCLI(t, "HasFunction", err)
	if err := c.HasFunction("f"); err != nil {
		t.Errorf("HasFunction of a stored function: %v", err)
	}
	for _, k := range []string{"abc", "ABCD", "xyzw", strings.Repeat("a", 65)} {
		err := ValidPrefix(k)
		if !errors.Is(err, ErrBadKeyPrefix) {
			t.Errorf("ValidPrefix(%q): %v, want ErrBadKeyPrefix", k, err)
		}
		noCLI(t, "ValidPrefix", err)
	}
	_, err = c.Remove(context.Background(), "f", []string{"xyz"}, true)
	if !errors.Is(err, ErrBadKeyPrefix) {
		t.Errorf("Remove with a bad key: %v, want ErrBadKeyPrefix", err)
	}
	for _, id := range []string{"zz", strings.Repeat("a", 63)} {
		_, err := c.CatObject(id, &bytes.Buffer{})
		if !errors.Is(err, ErrBadObjectID) {
			t.Errorf("CatObject(%q): %v, want ErrBadObjectID", id, err)
		}
		noCLI(t, "CatObject", err)
	}
}

// CheckReport.Next names fixes, not commands: a repair for damage, a check
// after a repair, gc for what only takes room.
func TestCheckNextNamesFixes(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.fill("f", 2)
	stray := filepath.Join(layout.New(c.Dir()).Objects(), "ab", "not-an-object")
	os.MkdirAll(filepath.Dir(stray), 0o755)
	if err := os.WriteFile(stray, []byte("stray"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Check(context.Background(), CheckOptions{})
	if err != nil || !slices.Equal(rep.Next, []Fix{FixRepair}) {
		t.Fatalf("Check of a missing object: %v, next %q", err, rep.Next)
	}
	rep, err = c.Check(context.Background(), CheckOptions{Repair: true})
	if err != nil || !slices.Equal(rep.Next, []Fix{FixCheck}) {
		t.Fatalf("Check with repair: %v, next %q", err, rep.Next)
	}
	rep, err = c.Check(context.Background(), CheckOptions{})
	if err != nil || !rep.Clean || len(rep.Next) > 0 {
		t.Fatalf("Check after repair: %v, clean %v, next %q", err, rep.Clean, rep.Next)
	}
	if _, err := c.raw.Store.Put([]byte("an object no entry uses")); err != nil {
		t.Fatal(err)
	}
	rep, err = c.Check(context.Background(), CheckOptions{})
	if err != nil || !rep.Clean || !slices.Equal(rep.Next, []Fix{FixGC}) {
		t.Fatalf("Check beside a dangling object: %v, clean %v, next %q", err, rep.Clean, rep.Next)
	}
}
