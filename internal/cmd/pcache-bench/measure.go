package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// perOp runs op in growing batches until one batch lasts at least d and
// returns that batch's mean time per op in nanoseconds. op gets a running
// index so it can vary its input.
func perOp(ctx context.Context, d time.Duration, op func(i int) error) (float64, error) {
	i := 0
	if err := op(i); err != nil { // warm up: first-use costs are not the steady state
		return 0, err
	}
	i++
	for n := 1; ; {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		start := time.Now()
		for range n {
			if err := op(i); err != nil {
				return 0, err
			}
			i++
		}
		el := time.Since(start)
		if el >= d || n >= 1<<30 {
			return float64(el.Nanoseconds()) / float64(n), nil
		}
		// Aim 20% past d, growing at least 2× and at most 100× per step.
		next := int(float64(n) * 1.2 * float64(d) / float64(max(el, time.Microsecond)))
		n = min(max(next, 2*n), 100*n)
	}
}

// parallelPerOp runs op on g goroutines for about d and returns the wall time
// per completed op (all goroutines together) in nanoseconds: the inverse of
// the aggregate throughput.
func parallelPerOp(ctx context.Context, g int, d time.Duration, op func(w, i int) error) (float64, error) {
	for w := range g { // warm every worker's inputs once
		if err := op(w, 0); err != nil {
			return 0, err
		}
	}
	var (
		stop  atomic.Bool
		total atomic.Int64
		wg    sync.WaitGroup
		ready sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	startGate := make(chan struct{})
	ready.Add(g)
	for w := range g {
		wg.Go(func() {
			ready.Done()
			<-startGate
			n := 0
			for i := 1; !stop.Load(); i++ {
				if err := op(w, i); err != nil {
					errMu.Lock()
					first = cmpErr(first, err)
					errMu.Unlock()
					stop.Store(true)
					break
				}
				n++
			}
			total.Add(int64(n))
		})
	}
	ready.Wait()
	start := time.Now()
	close(startGate)
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	stop.Store(true)
	wg.Wait()
	el := time.Since(start)
	if first != nil {
		return 0, first
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if total.Load() == 0 {
		return 0, fmt.Errorf("no operation completed in %v", d)
	}
	return float64(el.Nanoseconds()) / float64(total.Load()), nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// probe is one measurement whose result is a cost (lower is better).
type probe func() (float64, error)

// interleave runs every probe once per round, in order, for rounds rounds,
// and returns each probe's lowest cost. Interleaving a scenario with its
// floor exposes both to the same load on a shared machine; the minimum is the
// estimate least disturbed by other work.
func interleave(ctx context.Context, rounds int, ps ...probe) ([]float64, error) {
	best := make([]float64, len(ps))
	for i := range best {
		best[i] = math.Inf(1)
	}
	for range rounds {
		for i, p := range ps {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			v, err := p()
			if err != nil {
				return nil, err
			}
			best[i] = min(best[i], v)
		}
	}
	return best, nil
}

// timed returns the wall time of one call of fn in nanoseconds.
func timed(fn func() error) (float64, error) {
	start := time.Now()
	err := fn()
	return float64(time.Since(start).Nanoseconds()), err
}
