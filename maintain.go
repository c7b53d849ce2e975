package pcache

import (
	"context"
	"time"

	"github.com/pcache/pcache/internal/maintain"
)

// CheckOptions configure Store.Check.
type CheckOptions struct {
	// Repair fixes what is found: damaged manifests are rewritten without
	// their damaged records, damaged objects quarantined (their entries
	// then miss and compute again), stray files removed.
	Repair bool
	// Workers is the number of objects hashed at once; 0: one per core.
	Workers int
}

// CheckReport is what Store.Check found and, with Repair, did.
type CheckReport struct {
	Functions   int
	Entries     int
	Objects     int
	ObjectBytes int64
	Errors      int      // problems that lose or endanger entries
	Hints       int      // findings that lose nothing (a stale temp file, a dead lock)
	Problems    []string // one line per finding: "<kind> <path>: <detail>"
	Repaired    []string // with Repair: one line per action taken
	Unrepaired  int      // with Repair: problems left (a file a running writer holds, say)
	Clean       bool     // no errors (hints allowed)
}

// GCOptions configure Store.GC.
type GCOptions struct {
	// OlderThan, when positive, drops entries whose last use is older (last
	// use is recorded at most once an hour per entry: allow that slack).
	OlderThan time.Duration
	// MaxSize, when positive, drops least-recently-used entries until the
	// objects the remaining entries use (each counted once) fit.
	MaxSize int64
	// DryRun says what gc would do without doing it; it needs only read
	// access to the cache.
	DryRun bool
}

// GCReport is what Store.GC did (with DryRun: would do).
type GCReport struct {
	EntriesEvicted int // dropped as expired, by OlderThan and by MaxSize
	EntriesKept    int
	ObjectsRemoved int   // objects no entry uses any more, and the evicted entries' objects
	BytesRemoved   int64 // their bytes
	ObjectsKept    int
	BytesKept      int64
	Evicted        []string // the entries dropped, one line each
	Kept           []string // why bytes gc would free were kept, one line per reason
	Errors         []string // what could not be done (the rest was)
	Warnings       []string // what the plan could not be sure of
}

// Check verifies every object, manifest record and reference of the cache
// and, with opts.Repair, fixes what it can: the library form of pcache-fsck
// check. It waits for this process's and other processes' writes in flight
// to commit before it lists the cache.
func (s *Store) Check(ctx context.Context, opts CheckOptions) (*CheckReport, error) {
	c, err := maintain.Open(s.Dir())
	if err != nil {
		return nil, errorf("check: %w", err)
	}
	r, err := c.Check(ctx, maintain.CheckOptions{Repair: opts.Repair, Workers: opts.Workers})
	rep := checkReport(r)
	if err != nil {
		return rep, errorf("check %s: %w", s.Dir(), err)
	}
	return rep, nil
}

func checkReport(r *maintain.CheckReport) *CheckReport {
	if r == nil {
		return nil
	}
	rep := &CheckReport{Functions: r.Functions, Entries: r.Entries, Objects: r.Objects, ObjectBytes: r.ObjectBytes,
		Errors: r.Errors, Hints: r.Hints, Clean: r.Clean}
	for _, f := range r.Findings {
		rep.Problems = append(rep.Problems, f.String())
	}
	if r.Repair != nil {
		for _, a := range r.Repair.Actions {
			rep.Repaired = append(rep.Repaired, a.String())
		}
		rep.Unrepaired = r.Repair.Failed
	}
	return rep
}

// GC garbage-collects the cache: it removes objects no entry uses, stale
// temp files and dead lock files, the expired entries of the functions
// wrapped in this Store with Expire, and with opts.OlderThan or
// opts.MaxSize evicts entries by last use. (pcache-fsck gc cannot know a
// program's Expire; it evicts by last use only.) It is safe beside running writers, in this
// process and others, and fails closed on a damaged manifest. The library
// form of pcache-fsck gc.
func (s *Store) GC(ctx context.Context, opts GCOptions) (*GCReport, error) {
	if s.ReadOnly() && !opts.DryRun {
		return nil, errorf("gc %s: %w", s.Dir(), ErrReadOnly)
	}
	// This process's own pack is "live" (its writer runs) and would be
	// kept whole: seal it first, so what gc evicts from it is freed.
	if !opts.DryRun {
		if err := s.e.SealPack(); err != nil {
			return nil, errorf("gc %s: seal this process's pack: %w", s.Dir(), err)
		}
	}
	c, err := maintain.Open(s.Dir())
	if err != nil {
		return nil, errorf("gc: %w", err)
	}
	plan, err := c.PlanGC(ctx, maintain.GCOptions{OlderThan: opts.OlderThan, MaxSize: opts.MaxSize, DryRun: opts.DryRun, Expired: s.e.Expired})
	if err != nil {
		return nil, errorf("gc %s: %w", s.Dir(), err)
	}
	var r *maintain.GCReport
	if opts.DryRun {
		planned := plan.Report
		plan.Close()
		r = &planned
	} else if r, err = plan.Execute(ctx); err != nil {
		return gcReport(r), errorf("gc %s: %w", s.Dir(), err)
	}
	return gcReport(r), nil
}

func gcReport(r *maintain.GCReport) *GCReport {
	if r == nil {
		return nil
	}
	return &GCReport{EntriesEvicted: r.EntriesEvicted, EntriesKept: r.EntriesKept, ObjectsRemoved: r.ObjectsRemoved,
		BytesRemoved: r.BytesRemoved, ObjectsKept: r.ObjectsKept, BytesKept: r.BytesKept,
		Evicted: r.Evicted, Kept: r.Kept, Errors: r.Errors, Warnings: r.Warnings}
}
