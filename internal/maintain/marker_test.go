package maintain

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/pcache/pcache/internal/layout"
)

// The library side of a damaged marker: Open accepts the cache and says
// what is wrong, Check reports it as an error, and Check with Repair
// rewrites it.
func TestCheckRepairsDamagedMarker(t *testing.T) {
	// No entries: filling one would write a pack, which nothing here needs.
	c := newTestCache(t)
	d := layout.New(c.Dir())
	os.MkdirAll(d.Objects(), 0o777)
	os.WriteFile(d.Marker(), []byte(`{"format":"pcache-cache","vers`), 0o644)
	o, err := Open(c.Dir())
	if err != nil {
		t.Fatalf("Open of a cache with a damaged marker: %v", err)
	}
	if err := o.MarkerProblem(); !errors.Is(err, ErrDamagedMarker) {
		t.Fatalf("MarkerProblem: %v", err)
	}
	rep, err := o.Check(context.Background(), CheckOptions{})
	if err != nil || rep.Clean || rep.Errors != 1 || rep.Findings[0].Kind != KindBadMarker {
		t.Fatalf("Check: %v %+v", err, rep)
	}
	rep, err = o.Check(context.Background(), CheckOptions{Repair: true})
	if err != nil || !rep.Clean || rep.Repair == nil || rep.Repair.Actions[0].Path != layout.MarkerFile {
		t.Fatalf("Check -repair: %v %+v", err, rep)
	}
	if _, err := d.CheckMarker(); err != nil {
		t.Fatalf("after repair: %v", err)
	}
}

// A dry-run plan needs no write access and cannot be executed.
func TestDryRunPlanDoesNotExecute(t *testing.T) {
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
