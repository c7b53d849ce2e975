package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/pcache/pcache"
)

func distinctName(entries int) string { return fmt.Sprintf("bench/distinct/%d", entries) }

// distinctHits measures small-result hits where every entry has its own
// result object (distinctResult), at the three entry counts, against one
// os.ReadFile of a different file of the small-file tree per op.
func (b *bench) distinctHits(ctx context.Context) error {
	tree, err := b.fileTree(ctx)
	if err != nil {
		return err
	}
	dir, err := b.subdir("hitdistinct")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	cache := filepath.Join(dir, "cache")
	s, funcs, keys, _, err := b.filledStore(ctx, cache, distinctName, distinctResult, "distinct entries")
	if err != nil {
		return err
	}
	defer s.Close()
	for i, n := range b.cfg.entries {
		for _, k := range keys[i] {
			got, err := funcs[i].Call(pcache.ErrorOnMiss(ctx), k)
			want, _ := distinctResult(ctx, k)
			if err != nil || got != want {
				return fmt.Errorf("%s: entry %d after fill: %q, %v (want %q)", distinctName(n), k.N, got, err, want)
			}
		}
	}
	hitProbe := func(i int) probe { return b.hitProbe(ctx, funcs[i], keys[i]) }
	best, err := interleave(ctx, b.cfg.rounds, tree.readProbe(ctx, b.cfg.probe), hitProbe(0), hitProbe(1), hitProbe(2))
	if err != nil {
		return err
	}
	fl, h0, h1, h2 := best[0], best[1], best[2], best[3]
	for i, f := range funcs {
		if st := f.Stats(); st.Computes != 0 || st.Misses != 0 {
			return fmt.Errorf("%s: %d misses in a hit scenario", distinctName(b.cfg.entries[i]), st.Misses)
		}
	}
	e0, e1, e2 := countName(b.cfg.entries[0]), countName(b.cfg.entries[1]), countName(b.cfg.entries[2])
	floor := fmt.Sprintf("os.ReadFile of one of %s small files in %d dirs", countName(len(tree.paths)), treeDirs)
	b.add(Row{ID: "hit-distinct-small", Scenario: "hit, distinct small result per entry, " + e0 + " entries", Unit: unitNs, Result: h0,
		Floor: floor, FloorValue: fl, Target: &Target{"ratio", "<=", 0.5, "ours, as for " + e1}})
	b.add(Row{ID: "hit-distinct-mid", Scenario: "hit, distinct small result per entry, " + e1 + " entries", Unit: unitNs, Result: h1,
		Floor: floor, FloorValue: fl, Target: &Target{"ratio", "<=", 0.5, issueSmall}})
	b.add(Row{ID: "hit-distinct-large", Scenario: "hit, distinct small result per entry, " + e2 + " entries", Unit: unitNs, Result: h2,
		Floor: "the same hit with " + e0 + " entries", FloorValue: h0, Target: &Target{"ratio", "<=", 1.5, "issue 9"},
		Note: fmt.Sprintf("%.2f× the file-tree floor", h2/fl)})
	return nil
}
