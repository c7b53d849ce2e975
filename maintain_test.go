package pcache_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pcache/pcache"
)

// TestStoreCheckAndGC: Check reports a damaged object in words and, with
// Repair, says what it did and leaves the cache clean; GC with DryRun says
// what it would free, on a read-only Store too, and frees nothing; GC then
// frees it.
func TestStoreCheckAndGC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, pcache.PackLimit(0)) // objects as files, to damage one
	f, _ := counted(t, s, "t/maintain")
	mustCall(t, f, ctx, xyz{1, 2, 3})
	objs := objectFiles(t, dir)
	if len(objs) != 1 {
		t.Fatalf("want 1 object, got %v", objs)
	}
	b, err := os.ReadFile(objs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	os.Chmod(objs[0], 0o644)
	if err := os.WriteFile(objs[0], b, 0o444); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Check(ctx, pcache.CheckOptions{})
	if err != nil || rep.Clean || rep.Errors == 0 || len(rep.Problems) == 0 || rep.Objects != 1 || rep.Entries != 1 {
		t.Fatalf("check of a damaged object: %+v, %v", rep, err)
	}
	if !strings.Contains(strings.Join(rep.Problems, "\n"), "objects/") {
		t.Errorf("the problems do not name the object: %q", rep.Problems)
	}
	rep, err = s.Check(ctx, pcache.CheckOptions{Repair: true})
	if err != nil || len(rep.Repaired) == 0 || rep.Unrepaired != 0 {
		t.Fatalf("repair: %+v, %v", rep, err)
	}
	if rep, err := s.Check(ctx, pcache.CheckOptions{}); err != nil || !rep.Clean {
		t.Fatalf("check after repair: %+v, %v", rep, err)
	}

	// An entry evicted by size: a dry run on a read-only Store says so
	// and changes nothing.
	mustCall(t, f, ctx, xyz{4, 5, 6})
	ro := openStore(t, dir, pcache.ReadOnly())
	dry, err := ro.GC(ctx, pcache.GCOptions{MaxSize: 1, DryRun: true})
	if err != nil || dry.EntriesEvicted == 0 || len(dry.Evicted) == 0 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if rep, err := s.Check(ctx, pcache.CheckOptions{}); err != nil || rep.Entries != dry.EntriesEvicted+dry.EntriesKept {
		t.Fatalf("after a dry run: %+v, %v (the dry run planned %+v)", rep, err, dry)
	}
	if _, err := ro.GC(ctx, pcache.GCOptions{}); err == nil {
		t.Fatal("gc of a read-only Store succeeded")
	}
	done, err := s.GC(ctx, pcache.GCOptions{MaxSize: 1})
	if err != nil || done.EntriesEvicted != dry.EntriesEvicted || done.BytesRemoved == 0 {
		t.Fatalf("gc: %+v, %v; the dry run said %+v", done, err, dry)
	}
}
