package main

import (
	"context"
	"path/filepath"
)

// memory stores and then loads a cfg.memSize-byte result, each in a child
// process, and reports each child's peak RSS against the result's size.
func (b *bench) memory(ctx context.Context) error {
	dir, err := b.subdir("memory")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	cache := filepath.Join(dir, "cache")
	idle, err := b.idleChildRSS(ctx)
	if err != nil {
		return err
	}
	stored, err := runChild(ctx, childJob{Mode: "store", Dir: cache, Size: b.cfg.memSize})
	if err != nil {
		return err
	}
	loaded, err := runChild(ctx, childJob{Mode: "load", Dir: cache, Size: b.cfg.memSize})
	if err != nil {
		return err
	}
	sz := sizeName(b.cfg.memSize)
	note := "a process that does nothing: " + fmtBytes(float64(idle))
	for _, r := range []Row{
		{ID: "rss-store", Scenario: "peak RSS of a process computing and storing a " + sz + " []byte result", Result: float64(stored.peakRSS()),
			Target: &Target{"ratio", "<=", 1.25, "ours, as for loading"}},
		{ID: "rss-load", Scenario: "peak RSS of a process loading a " + sz + " []byte result (hit)", Result: float64(loaded.peakRSS()),
			Target: &Target{"ratio", "<=", 1.25, "issue 9"}},
	} {
		r.Unit, r.Floor, r.FloorValue, r.Note = unitBytes, "the result's size", float64(b.cfg.memSize), note
		if r.Result == 0 {
			r.Error = "peak RSS not reported on this platform"
		}
		b.add(r)
	}
	return nil
}
