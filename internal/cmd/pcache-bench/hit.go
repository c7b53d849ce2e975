package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pcache/pcache"
)

// benchArgs is the argument struct of the small-result scenarios (the same
// shape as the root package's benchmarks).
type benchArgs struct {
	Name string
	N    int
	Rate float64
}

func smallArgs(n int) benchArgs { return benchArgs{Name: "k", N: n, Rate: 0.5} }

// smallResult is the wrapped function of the shared-object hit scenarios.
// Every entry gets the same result, so all entries share one object, as many
// real functions' entries do not; the manifest is what grows. The
// hitdistinct scenarios use distinctResult instead.
func smallResult(_ context.Context, a benchArgs) (string, error) { return "result for " + a.Name, nil }

func hitName(entries int) string { return fmt.Sprintf("bench/hit/%d", entries) }

// sharedNote labels the rows whose entries all share one result object.
const sharedNote = " (all entries share one object)"

// fillEntries stores n entries of result under name through WrapBatch,
// fillBatch elements per call (one manifest append each).
func (b *bench) fillEntries(ctx context.Context, s *pcache.Store, name string, n int, result func(context.Context, benchArgs) (string, error)) error {
	f, err := pcache.WrapBatch(s, name, func(_ context.Context, as []benchArgs) ([]string, error) {
		out := make([]string, len(as))
		for i, a := range as {
			out[i], _ = result(ctx, a)
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	batch := make([]benchArgs, 0, b.cfg.fillBatch)
	for lo := 0; lo < n; lo += b.cfg.fillBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch = batch[:0]
		for i := lo; i < min(n, lo+b.cfg.fillBatch); i++ {
			batch = append(batch, smallArgs(i))
		}
		if _, err := f.Call(ctx, batch); err != nil {
			return err
		}
	}
	return nil
}

// hitKeys returns the keys a hit scenario cycles through: spread evenly over
// all entries, the same count whatever the entries, so that a larger
// function differs only in the size of its index.
func (b *bench) hitKeys(entries int) []benchArgs {
	k := min(b.cfg.hitKeys, entries)
	keys := make([]benchArgs, k)
	for j := range keys {
		keys[j] = smallArgs(j * entries / k)
	}
	return keys
}

// filledStore fills one function per entry count of cfg.entries (named by
// name, computing result) in the cache at dir, closes the Store (which
// waits for background compaction) and opens it again, as a later process
// would; it returns the new Store, each function wrapped on it with its hit
// keys, and the fill time per entry of the largest function. what names
// the entries in the log.
func (b *bench) filledStore(ctx context.Context, cache string, name func(int) string, result func(context.Context, benchArgs) (string, error), what string) (*pcache.Store, []*pcache.Func[benchArgs, string], [][]benchArgs, float64, error) {
	s, err := pcache.Open(cache)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	var fillNs float64
	for _, n := range b.cfg.entries {
		t0 := time.Now()
		if err := b.fillEntries(ctx, s, name(n), n, result); err != nil {
			s.Close()
			return nil, nil, nil, 0, fmt.Errorf("fill %d %s: %w", n, what, err)
		}
		if n == b.cfg.entries[2] {
			fillNs = float64(time.Since(t0).Nanoseconds()) / float64(n)
		}
		b.logf("%d %s stored in %.1fs", n, what, time.Since(t0).Seconds())
	}
	if err := s.Close(); err != nil {
		return nil, nil, nil, 0, err
	}
	if s, err = pcache.Open(cache); err != nil {
		return nil, nil, nil, 0, err
	}
	funcs := make([]*pcache.Func[benchArgs, string], len(b.cfg.entries))
	keys := make([][]benchArgs, len(b.cfg.entries))
	for i, n := range b.cfg.entries {
		if funcs[i], err = pcache.Wrap(s, name(n), result); err != nil {
			s.Close()
			return nil, nil, nil, 0, err
		}
		keys[i] = b.hitKeys(n)
	}
	return s, funcs, keys, fillNs, nil
}

// hitProbe is a probe of hits of f, cycling through keys.
func (b *bench) hitProbe(ctx context.Context, f *pcache.Func[benchArgs, string], keys []benchArgs) probe {
	return func() (float64, error) {
		return perOp(ctx, b.cfg.probe, func(j int) error {
			_, err := f.Call(ctx, keys[j%len(keys)])
			return err
		})
	}
}

// hits measures small-result hits at three manifest sizes, hits from many
// goroutines, a fresh process's first hit and its peak RSS.
func (b *bench) hits(ctx context.Context) error {
	dir, err := b.subdir("hit")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	cache := filepath.Join(dir, "cache")
	s, funcs, keys, fillNs, err := b.filledStore(ctx, cache, hitName, smallResult, "entries")
	if err != nil {
		return err
	}
	defer s.Close()
	b.logf("filled at %s/entry for %d entries", fmtDuration(fillNs), b.cfg.entries[2])
	for i, n := range b.cfg.entries {
		for _, k := range keys[i] {
			if ok, err := funcs[i].Contains(ctx, k); err != nil || !ok {
				return fmt.Errorf("%s: entry %d missing after fill (err %v)", hitName(n), k.N, err)
			}
		}
	}
	hitProbe := func(i int) probe { return b.hitProbe(ctx, funcs[i], keys[i]) }
	floor, err := b.floorSmallRead(ctx, dir)
	if err != nil {
		return err
	}
	best, err := interleave(ctx, b.cfg.rounds, floor, hitProbe(0), hitProbe(1), hitProbe(2))
	if err != nil {
		return err
	}
	fl, h0, h1, h2 := best[0], best[1], best[2], best[3]
	for i, f := range funcs {
		if st := f.Stats(); st.Computes != 0 || st.Misses != 0 {
			return fmt.Errorf("%s: %d misses in a hit scenario", hitName(b.cfg.entries[i]), st.Misses)
		}
	}
	e0, e1, e2 := countName(b.cfg.entries[0]), countName(b.cfg.entries[1]), countName(b.cfg.entries[2])
	b.add(Row{ID: "hit-small", Scenario: "hit, small result, " + e0 + " entries" + sharedNote, Unit: unitNs, Result: h0,
		Floor: "small-file open+read", FloorValue: fl, Target: &Target{"ratio", "<=", 2, "issue 9"}})
	b.add(Row{ID: "hit-small-abs", Scenario: "hit, small result, " + e0 + " entries, absolute" + sharedNote, Unit: unitNs, Result: h0,
		Target: &Target{"value", "<=", 10e3, "issue 2/5"}})
	b.add(Row{ID: "hit-small-mid", Scenario: "hit, small result, " + e1 + " entries" + sharedNote, Unit: unitNs, Result: h1,
		Floor: "the same hit with " + e0 + " entries", FloorValue: h0, Target: &Target{"ratio", "<=", 1.5, "ours, as for " + e2}})
	b.add(Row{ID: "hit-small-large", Scenario: "hit, small result, " + e2 + " entries" + sharedNote, Unit: unitNs, Result: h2,
		Floor: "the same hit with " + e0 + " entries", FloorValue: h0, Target: &Target{"ratio", "<=", 1.5, "issue 9"}})

	if err := b.concurrentHits(ctx, dir, funcs[0], keys[0]); err != nil {
		return err
	}
	s.Close()
	return b.freshFirstHit(ctx, cache)
}

// concurrentHits measures aggregate hit throughput on cfg.goroutines
// goroutines against one, and the same for the small-file floor.
func (b *bench) concurrentHits(ctx context.Context, dir string, f *pcache.Func[benchArgs, string], keys []benchArgs) error {
	g := b.cfg.goroutines
	hitPar := func(g int) probe {
		return func() (float64, error) {
			return parallelPerOp(ctx, g, b.cfg.probe, func(w, i int) error {
				_, err := f.Call(ctx, keys[(w*97+i)%len(keys)])
				return err
			})
		}
	}
	floorG, err := b.floorSmallReadParallel(ctx, dir, g)
	if err != nil {
		return err
	}
	floor1, err := b.floorSmallReadParallel(ctx, dir, 1)
	if err != nil {
		return err
	}
	best, err := interleave(ctx, b.cfg.rounds, floor1, hitPar(1), floorG, hitPar(g))
	if err != nil {
		return err
	}
	fl1, h1, flG, hG := best[0], best[1], best[2], best[3]
	b.add(Row{ID: "hit-8g", Scenario: fmt.Sprintf("hit, small result, %s entries, %d goroutines (wall time per hit, all together)%s", countName(b.cfg.entries[0]), g, sharedNote),
		Unit: unitNs, Result: hG, Floor: fmt.Sprintf("small-file open+read, %d goroutines", g), FloorValue: flG,
		Target: &Target{"ratio", "<=", 2, "ours: the hit target under concurrency"}})
	b.add(Row{ID: "hit-scaling", Scenario: fmt.Sprintf("hit throughput, %d goroutines vs 1", g), Unit: unitX, Result: h1 / hG,
		Floor:      fmt.Sprintf("small-file open+read, %d goroutines vs 1", g),
		FloorValue: fl1 / flG, Target: &Target{"ratio", ">=", 0.8, "ours"},
		Note: fmt.Sprintf("1 goroutine: %s/hit, floor %s", fmtDuration(h1), fmtDuration(fl1))})
	return nil
}

// freshFirstHit starts new processes that open the cache, wrap the largest
// function and call it once: the time from Open to the first hit, and the
// peak RSS of such a process against one that does nothing.
func (b *bench) freshFirstHit(ctx context.Context, cache string) error {
	n := b.cfg.entries[2]
	idle, err := b.idleChildRSS(ctx)
	if err != nil {
		return err
	}
	var times, walls, rss []float64
	for i := range b.cfg.children {
		out, err := runChild(ctx, childJob{Mode: "firsthit", Dir: cache, Name: hitName(n), N: (i*7919 + 13) % n})
		if err != nil {
			return err
		}
		times = append(times, out.Ns)
		walls = append(walls, out.WallNs)
		rss = append(rss, float64(out.peakRSS()))
	}
	e := countName(n)
	b.add(Row{ID: "first-hit-fresh", Scenario: "fresh process: Open + Wrap + first hit, " + e + " entries (median of " + fmt.Sprint(len(times)) + ")" + sharedNote,
		Unit: unitNs, Result: median(times), Target: &Target{"value", "<=", 5e6, "issue 9"},
		Note: "process start to exit: " + fmtDuration(median(walls))})
	r := Row{ID: "rss-load-entries", Scenario: "peak RSS of a process whose first hit loads a function of " + e + " entries",
		Unit: unitBytes, Result: median(rss), Floor: "a process that does nothing", FloorValue: float64(idle),
		Target: &Target{"value", "<=", 64 << 20, "ours"}}
	if idle == 0 {
		r.Error = "peak RSS not reported on this platform"
	}
	b.add(r)
	return nil
}

func (b *bench) idleChildRSS(ctx context.Context) (int64, error) {
	if b.idleRSS == 0 {
		out, err := runChild(ctx, childJob{Mode: "idle", Dir: os.TempDir()})
		if err != nil {
			return 0, err
		}
		b.idleRSS = out.peakRSS()
	}
	return b.idleRSS, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
