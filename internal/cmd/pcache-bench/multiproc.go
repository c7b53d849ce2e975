package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pcache/pcache"
)

// sharedMults are the orders of the processes of the multi-process
// scenario: process i calls key (j*sharedMults[i] + offset_i) % keys at
// step j, a permutation when the multiplier is coprime with the key count.
var sharedMults = []int{1, 3, 7, 9, 11, 13, 17, 19}

// sharedOrder is process i's order over keys.
func sharedOrder(i, procs, keys int) (mult, offset int, err error) {
	if procs > len(sharedMults) {
		return 0, 0, fmt.Errorf("%d processes: at most %d orders", procs, len(sharedMults))
	}
	mult = sharedMults[i]
	if gcd(mult, keys) != 1 {
		return 0, 0, fmt.Errorf("%d keys: not coprime with the order multiplier %d", keys, mult)
	}
	return mult, i * keys / procs, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// multiProc runs cfg.sharedProcs fresh processes that call the peers'
// function over the same cfg.sharedKeys keys in different orders on one new
// cache, once with pcache and once with python diskcache, in rounds: the
// computations (pcache must compute each key exactly once) and the wall
// time from their common start to the last exit.
func (b *bench) multiProc(ctx context.Context) error {
	keys, procs := b.cfg.sharedKeys, b.cfg.sharedProcs
	py, err := b.python(ctx)
	if err != nil {
		return err
	}
	dir, err := b.subdir("multiproc")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	diskSkip, _ := py.skip("diskcache")
	type tally struct {
		wall                     float64
		computes, hits, waits    int64
		slowest                  float64 // the longest in-process loop
		minComputes, maxComputes int64
	}
	pc := tally{wall: math.Inf(1), minComputes: math.MaxInt64}
	dc := tally{wall: math.Inf(1), minComputes: math.MaxInt64}
	round := 0
	run := func(t *tally, mk func(i, mult, offset int, cache string) (*exec.Cmd, error)) probe {
		return func() (float64, error) {
			round++
			cache := filepath.Join(dir, fmt.Sprintf("cache-%d", round))
			if err := os.MkdirAll(cache, 0o755); err != nil {
				return 0, err
			}
			cmds := make([]*exec.Cmd, procs)
			for i := range cmds {
				mult, off, err := sharedOrder(i, procs, keys)
				if err != nil {
					return 0, err
				}
				if cmds[i], err = mk(i, mult, off, cache); err != nil {
					return 0, err
				}
			}
			outs, wall, err := runGated(cmds)
			if err != nil {
				return 0, err
			}
			var sum childResult
			slowest := 0.0
			for i, out := range outs {
				var r childResult
				if err := json.Unmarshal(out, &r); err != nil {
					return 0, fmt.Errorf("process %d: bad output %q: %w", i+1, out, err)
				}
				sum.Computes += r.Computes
				sum.Hits += r.Hits
				sum.Waits += r.Waits
				slowest = max(slowest, r.Ns)
			}
			t.minComputes = min(t.minComputes, sum.Computes)
			t.maxComputes = max(t.maxComputes, sum.Computes)
			if wall < t.wall {
				t.wall, t.computes, t.hits, t.waits, t.slowest = wall, sum.Computes, sum.Hits, sum.Waits, slowest
			}
			return wall, nil
		}
	}
	pcacheRun := run(&pc, func(i, mult, offset int, cache string) (*exec.Cmd, error) {
		return childCmd(ctx, childJob{Mode: "shared", Dir: cache, Keys: keys, Mult: mult, Offset: offset})
	})
	probes := []probe{pcacheRun}
	if diskSkip == "" {
		probes = append(probes, run(&dc, func(i, mult, offset int, cache string) (*exec.Cmd, error) {
			return py.command(ctx, "", cache, "shared", "diskcache", cache, strconv.Itoa(keys), strconv.Itoa(mult), strconv.Itoa(offset)), nil
		}))
	}
	if _, err := interleave(ctx, b.cfg.rounds, probes...); err != nil {
		return err
	}
	scen := fmt.Sprintf("%d fresh processes × %s shared keys (peers' f, different orders, one cache)", procs, countName(keys))
	comp := Row{ID: "multiproc-computes", Scenario: scen + ": computations, pcache", Unit: unitCount, Result: float64(pc.computes),
		Floor: "the number of keys", FloorValue: float64(keys), Target: &Target{"ratio", "<=", 1, issueSmall + ": exactly once"},
		Note: fmt.Sprintf("in the fastest of %d rounds: %d hits, of which %d waited for another process", b.cfg.rounds, pc.hits, pc.waits)}
	if pc.minComputes != int64(keys) || pc.maxComputes != int64(keys) {
		comp.Error = fmt.Sprintf("pcache computed %d to %d times over %d rounds for %d keys; want exactly %d", pc.minComputes, pc.maxComputes, b.cfg.rounds, keys, keys)
	}
	b.add(comp)
	dcomp := Row{ID: "multiproc-diskcache-computes", Scenario: scen + ": computations, python diskcache memoize (which does not deduplicate)", Unit: unitCount,
		Result: float64(dc.computes), Floor: "the number of keys", FloorValue: float64(keys),
		Note: fmt.Sprintf("%d to %d over %d rounds", dc.minComputes, dc.maxComputes, b.cfg.rounds)}
	wall := Row{ID: "multiproc-wall", Scenario: scen + ": wall time from the common start to the last exit, pcache vs diskcache", Unit: unitNs,
		Result: pc.wall, Floor: "python diskcache memoize, the same", FloorValue: dc.wall, Target: &Target{"ratio", "<=", 1, issueSmall},
		Note: fmt.Sprintf("slowest process's own loop: pcache %s, diskcache %s", fmtDuration(pc.slowest), fmtDuration(dc.slowest))}
	if diskSkip != "" {
		dcomp.Skip, dcomp.Result, dcomp.Floor, dcomp.FloorValue, dcomp.Note = diskSkip, 0, "", 0, ""
		wall.Skip, wall.Floor, wall.FloorValue, wall.Note = diskSkip, "", 0, ""
	}
	b.add(dcomp)
	b.add(wall)
	return nil
}

// sharedChild is one process of the multi-process scenario: Open the
// shared cache, Wrap the peers' function, wait at the start gate, call it on
// every key in the job's order, Close.
func sharedChild(ctx context.Context, job childJob) (childResult, error) {
	s, err := pcache.Open(job.Dir)
	if err != nil {
		return childResult{}, err
	}
	f, err := pcache.Wrap(s, peerName, peerResult)
	if err != nil {
		s.Close()
		return childResult{}, err
	}
	if err := awaitGate(os.Stdout, os.Stdin); err != nil {
		s.Close()
		return childResult{}, err
	}
	start := time.Now()
	for j := range job.Keys {
		x := (j*job.Mult + job.Offset) % job.Keys
		r, err := f.Call(ctx, peerKey(x))
		if err != nil {
			s.Close()
			return childResult{}, err
		}
		if len(r) != 3 || r[2] != x+2 {
			s.Close()
			return childResult{}, fmt.Errorf("%s(%d) = %v", peerName, x, r)
		}
	}
	ns := float64(time.Since(start).Nanoseconds())
	if err := s.Close(); err != nil {
		return childResult{}, err
	}
	st := f.Stats()
	return childResult{Ns: ns, Computes: st.Computes, Hits: st.Hits, Waits: st.Waits}, nil
}
