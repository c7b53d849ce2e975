package pcache

import (
	"context"

	"github.com/pcache/pcache/fsck"
)

// Check verifies every object, manifest record and reference of the cache
// and, with opts.Repair, fixes what it can (see fsck.Cache.Check): the
// library form of pcache-fsck check. It waits for this process's and other
// processes' writes in flight to commit before it lists the cache.
func (s *Store) Check(ctx context.Context, opts fsck.CheckOptions) (*fsck.CheckReport, error) {
	c, err := fsck.Open(s.d.Root())
	if err != nil {
		return nil, errorf("check: %w", err)
	}
	rep, err := c.Check(ctx, opts)
	if err != nil {
		return rep, errorf("check %s: %w", s.d.Root(), err)
	}
	return rep, nil
}

// GC garbage-collects the cache (see fsck.Cache.PlanGC): it removes objects
// no entry uses, stale temp files and dead lock files, and with
// opts.OlderThan or opts.MaxSize evicts entries by last use. It is safe
// beside running writers, in this process and others, and fails closed on a
// damaged manifest. The library form of pcache-fsck gc; to see the plan
// without acting on it, use fsck.Cache.PlanGC and GCPlan.Close.
func (s *Store) GC(ctx context.Context, opts fsck.GCOptions) (*fsck.GCReport, error) {
	if s.readOnly {
		return nil, errorf("gc %s: %w", s.d.Root(), ErrReadOnly)
	}
	// This process's own pack is "live" (its writer runs) and would be
	// kept whole: seal it first, so what gc evicts from it is freed.
	if !opts.DryRun {
		if err := s.cas.Seal(); err != nil {
			return nil, errorf("gc %s: seal this process's pack: %w", s.d.Root(), err)
		}
	}
	c, err := fsck.Open(s.d.Root())
	if err != nil {
		return nil, errorf("gc: %w", err)
	}
	plan, err := c.PlanGC(ctx, opts)
	if err != nil {
		return nil, errorf("gc %s: %w", s.d.Root(), err)
	}
	rep, err := plan.Execute(ctx)
	if err != nil {
		return rep, errorf("gc %s: %w", s.d.Root(), err)
	}
	return rep, nil
}
