package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/pcache/pcache"
)

// distinctResult gives every key its own small result ("result 17"), so that
// each miss stores a new object (a shared result would make the object write
// a no-op) and each hit reads an object of its own.
func distinctResult(_ context.Context, a benchArgs) (string, error) {
	return "result " + strconv.Itoa(a.N), nil
}

// misses measures the bookkeeping of a miss: key, per-key lock, compute
// (instant), encode, store a new object, append a manifest record; against a
// small-file write+rename into the 256-directory tree and into one directory.
func (b *bench) misses(ctx context.Context) error {
	tree, err := b.fileTree(ctx)
	if err != nil {
		return err
	}
	dir, err := b.subdir("miss")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	s, err := pcache.Open(filepath.Join(dir, "cache"))
	if err != nil {
		return err
	}
	defer s.Close()
	f, err := pcache.Wrap(s, "bench/miss", distinctResult)
	if err != nil {
		return err
	}
	n := 0
	miss := func() (float64, error) {
		return perOp(ctx, b.cfg.probe, func(int) error {
			n++
			_, err := f.Call(ctx, smallArgs(n))
			return err
		})
	}
	floor, err := b.floorSmallWrite(ctx, dir)
	if err != nil {
		return err
	}
	best, err := interleave(ctx, b.cfg.rounds, tree.writeProbe(ctx, b.cfg.probe), floor, miss)
	if err != nil {
		return err
	}
	if st := f.Stats(); st.Hits != 0 || st.Stores != st.Misses {
		return fmt.Errorf("miss scenario: %d hits, %d stores for %d misses", st.Hits, st.Stores, st.Misses)
	}
	flTree, fl, m := best[0], best[1], best[2]
	b.add(Row{ID: "miss-tree", Scenario: "miss storing a distinct small result (key, lock, store object, append record)", Unit: unitNs, Result: m,
		Floor:      fmt.Sprintf("os.WriteFile to a temp name + rename into a tree of %d dirs", treeDirs),
		FloorValue: flTree, Target: &Target{"ratio", "<=", 0.5, issueSmall}})
	b.add(Row{ID: "miss", Scenario: "miss bookkeeping, small result, against one directory", Unit: unitNs, Result: m,
		Floor: "small-file write+rename in one directory", FloorValue: fl, Target: &Target{"ratio", "<=", 10, "issue 9"}})
	b.add(Row{ID: "miss-abs", Scenario: "miss bookkeeping, absolute", Unit: unitNs, Result: m,
		Target: &Target{"value", "<=", 50e3, "issue 2/5"}})
	return nil
}

// batches measures one WrapBatch call of cfg.batch elements, all hits or all
// misses (with an instant function), per element.
func (b *bench) batches(ctx context.Context) error {
	dir, err := b.subdir("batch")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	s, err := pcache.Open(filepath.Join(dir, "cache"))
	if err != nil {
		return err
	}
	defer s.Close()
	f, err := pcache.WrapBatch(s, "bench/batch", func(ctx context.Context, as []benchArgs) ([]string, error) {
		out := make([]string, len(as))
		for i, a := range as {
			out[i], _ = distinctResult(ctx, a)
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	n := b.cfg.batch
	mk := func(lo int) []benchArgs {
		in := make([]benchArgs, n)
		for i := range in {
			in[i] = smallArgs(lo + i)
		}
		return in
	}
	stored := mk(0)
	if _, err := f.Call(ctx, stored); err != nil {
		return err
	}
	hits := func() (float64, error) {
		ns, err := perOp(ctx, b.cfg.probe, func(int) error {
			_, err := f.Call(pcache.ErrorOnMiss(ctx), stored)
			return err
		})
		return ns / float64(n), err
	}
	lo := n
	misses := func() (float64, error) {
		ns, err := perOp(ctx, b.cfg.probe, func(int) error {
			lo += n
			_, err := f.Call(ctx, mk(lo))
			return err
		})
		return ns / float64(n), err
	}
	floorR, err := b.floorSmallRead(ctx, dir)
	if err != nil {
		return err
	}
	floorW, err := b.floorSmallWrite(ctx, dir)
	if err != nil {
		return err
	}
	best, err := interleave(ctx, b.cfg.rounds, floorR, hits, floorW, misses)
	if err != nil {
		return err
	}
	e := countName(n)
	b.add(Row{ID: "batch-hits", Scenario: "batch of " + e + ", all hits", Unit: unitNsEl, Result: best[1],
		Floor: "small-file open+read", FloorValue: best[0], Target: &Target{"value", "<=", 1e3, issueSmall}})
	b.add(Row{ID: "batch-misses", Scenario: "batch of " + e + ", all misses", Unit: unitNsEl, Result: best[3],
		Floor: "small-file write+rename", FloorValue: best[2], Target: &Target{"value", "<=", 5e3, issueSmall}})
	return nil
}
