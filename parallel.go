package pcache

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// forEach calls fn(i) for i in [0, n) on up to 2×GOMAXPROCS goroutines (file
// reads and writes spend most of their time in the kernel) and returns the
// first error. Small n runs inline.
func forEach(n int, fn func(i int) error) error {
	return forRanges(n, 2, func(lo, hi int) (first error) {
		for i := lo; i < hi; i++ {
			if err := fn(i); err != nil && first == nil {
				first = err
			}
		}
		return first
	})
}

// forRanges calls fn on consecutive ranges [lo, hi) that cover [0, n), on
// up to perCPU×GOMAXPROCS goroutines, each taking up to 64 indices at a
// time (so that they don't contend for every index), and returns the
// first error. It runs inline when that is at most one goroutine (n ≤ 1,
// or perCPU 0).
func forRanges(n, perCPU int, fn func(lo, hi int) error) error {
	workers := min(runtime.GOMAXPROCS(0)*perCPU, n)
	if workers <= 1 {
		if n <= 0 {
			return nil
		}
		return fn(0, n)
	}
	step := int64(max(1, min(64, n/(workers*4))))
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		once  sync.Once
		first error
	)
	for range workers {
		wg.Go(func() {
			for {
				lo := next.Add(step) - step
				if lo >= int64(n) {
					return
				}
				if err := fn(int(lo), int(min(lo+step, int64(n)))); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	wg.Wait()
	return first
}
