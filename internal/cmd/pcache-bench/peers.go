package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"

	"github.com/pcache/pcache"
)

// peerArgs is the argument of the peers' function f(x, y=2).
type peerArgs struct{ X, Y int }

func peerKey(x int) peerArgs { return peerArgs{X: x, Y: 2} }

// peerResult is the peers' function: f(x, y=2) -> [x, y, x+y], a distinct
// small result per key. peers.py memoizes the same function in python.
func peerResult(_ context.Context, a peerArgs) ([]int, error) { return []int{a.X, a.Y, a.X + a.Y}, nil }

const peerName = "bench/peers/f"

// peerLib is one python peer and the sizes of its runs.
type peerLib struct {
	name       string // module
	what       string // how peers.py memoizes f with it
	keys, hits int
}

// peers measures the peers' scenario in pcache (in this process) and, in
// the same rounds, in the python peers (one python3 run per round each, a
// new cache directory each time).
func (b *bench) peers(ctx context.Context) error {
	py, err := b.python(ctx)
	if err != nil {
		return err
	}
	dir, err := b.subdir("peers")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	s, err := pcache.Open(filepath.Join(dir, "pcache"))
	if err != nil {
		return err
	}
	defer s.Close()
	f, err := pcache.Wrap(s, peerName, peerResult)
	if err != nil {
		return err
	}
	keys := b.cfg.peerKeys
	for x := range keys { // the entries the hits cycle over
		if _, err := f.Call(ctx, peerKey(x)); err != nil {
			return err
		}
	}
	run := &peersRun{b: b, py: py, dir: dir, f: f, libs: []peerLib{
		{"diskcache", "python diskcache.Cache(dir).memoize()", keys, b.cfg.peerHits},
		{"joblib", "python joblib.Memory(dir, verbose=0).cache", b.cfg.peerSlowKeys, b.cfg.peerSlowHits},
		{"permacache", "python permacache(path)", b.cfg.peerSlowKeys, b.cfg.peerSlowHits},
	}}
	if err := run.measure(ctx); err != nil {
		return err
	}
	run.addRows()
	return nil
}

// peersRun is one run of the peers' scenario: the pcache function and the
// python peers measured, and the best times of each (pcache's miss pm and
// hit ph; each peer's, +Inf or 0 for a peer that did not run).
type peersRun struct {
	b        *bench
	py       *python
	dir      string
	f        *pcache.Func[peerArgs, []int]
	libs     []peerLib
	pm, ph   float64
	bestMiss []float64 // by index into libs
	bestHit  []float64
}

// measure times pcache's misses and hits and each python peer that runs
// (a run of it per round, in a new directory), all in interleaved rounds,
// and checks that pcache computed and stored once per miss.
func (run *peersRun) measure(ctx context.Context) error {
	b, py, dir, f, libs := run.b, run.py, run.dir, run.f, run.libs
	keys := b.cfg.peerKeys
	next := keys
	miss := func() (float64, error) {
		return perOp(ctx, b.cfg.probe, func(int) error {
			r, err := f.Call(ctx, peerKey(next))
			if err == nil && (len(r) != 3 || r[2] != next+2) {
				err = fmt.Errorf("%s(%d) = %v", peerName, next, r)
			}
			next++
			return err
		})
	}
	hit := func() (float64, error) {
		hctx := pcache.ErrorOnMiss(ctx)
		return perOp(ctx, b.cfg.probe, func(j int) error {
			_, err := f.Call(hctx, peerKey(j%keys))
			return err
		})
	}
	probes := []probe{miss, hit}
	bestHit := make([]float64, len(libs))
	var ran []int // indexes into libs, for the probes after the first two
	for i, lib := range libs {
		bestHit[i] = math.Inf(1)
		if skip, fail := py.skip(lib.name); skip != "" || fail != "" {
			continue
		}
		round := 0
		ran = append(ran, i)
		probes = append(probes, func() (float64, error) {
			round++
			r, err := py.bench(ctx, lib.name, filepath.Join(dir, fmt.Sprintf("%s-%d", lib.name, round)), lib.keys, lib.hits)
			bestHit[i] = min(bestHit[i], r.HitNs)
			return r.MissNs, err
		})
	}
	best, err := interleave(ctx, b.cfg.rounds, probes...)
	if err != nil {
		return err
	}
	if st := f.Stats(); st.Computes != st.Misses || st.Stores != st.Misses {
		return fmt.Errorf("%s: %d computes and %d stores for %d misses", peerName, st.Computes, st.Stores, st.Misses)
	}
	run.pm, run.ph = best[0], best[1]
	run.bestMiss = make([]float64, len(libs))
	for j, i := range ran {
		run.bestMiss[i] = best[2+j]
	}
	run.bestHit = bestHit
	return nil
}

// addRows adds a miss row and a hit row per python peer: pcache's time
// against the peer's (skipped or an error when the peer did not run).
func (run *peersRun) addRows() {
	b, py, pm, ph := run.b, run.py, run.pm, run.ph
	const scen = "peers' f(x, y=2) → [x, y, x+y], a distinct result per key"
	for i, lib := range run.libs {
		id, vs, info := "peers-"+lib.name, "pcache vs "+lib.name, true
		if lib.name == "diskcache" {
			id, info = "peers", false
		}
		floor := func(kind string) string {
			v := py.versions[lib.name]
			if lib.name == "permacache" {
				v = "source at $" + permacacheEnv
			}
			return fmt.Sprintf("%s, %s (%s %s)", lib.what, kind, lib.name, v)
		}
		missRow := Row{ID: id + "-miss", Scenario: scen + ": miss + store, " + vs + " (pcache: Go, in-process, struct{X, Y int} → []int)", Unit: unitNs,
			Result: pm, Floor: floor("miss + store"), FloorValue: run.bestMiss[i]}
		hitRow := Row{ID: id + "-hit", Scenario: scen + ": hit, " + vs, Unit: unitNs,
			Result: ph, Floor: floor("hit"), FloorValue: run.bestHit[i]}
		if !info {
			missRow.Target = &Target{"ratio", "<=", 0.2, issueSmall + ": 5× faster"}
			hitRow.Target = &Target{"ratio", "<=", 0.1, issueSmall + ": 10× faster"}
		}
		if skip, fail := py.skip(lib.name); skip != "" || fail != "" {
			for _, r := range []*Row{&missRow, &hitRow} {
				r.Skip, r.Error, r.FloorValue, r.Floor = skip, fail, 0, ""
			}
		}
		b.add(missRow)
		b.add(hitRow)
	}
}
