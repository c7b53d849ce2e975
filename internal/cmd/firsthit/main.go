// Command firsthit measures what a fresh process pays before its first
// hit (Open, Wrap, the hit, Close), against the floor of a fresh process
// reading one small file of a 256-directory tree.
//
//	go run ./internal/cmd/firsthit fill DIR N     # N distinct small results (prints the time of the calls and of Close)
//	go run ./internal/cmd/firsthit hit DIR K      # a fresh process's first hit of key K (FIRSTHIT_TRACE=FILE: an execution trace)
//	go run ./internal/cmd/firsthit hits DIR N     # a process's steady hits of 1000 keys spread over N entries
//	go run ./internal/cmd/firsthit tree DIR       # the floor's tree: DIR/00/f ... DIR/ff/f
//	go run ./internal/cmd/firsthit read FILE      # the floor: read one small file
//	go run ./internal/cmd/firsthit spawn N CMD...  # CMD run N times: start-to-exit wall time
//
// spawn measures what a command-line tool pays per run, process start to
// exit, which Open + Wrap + first hit is only part of: set it beside the
// floor, a Go program that links nothing of pcache (./floor):
//
//	go build -o /tmp/firsthit ./internal/cmd/firsthit
//	go build -o /tmp/floor ./internal/cmd/firsthit/floor
//	/tmp/firsthit spawn 50 /tmp/floor DIR/pcache.json
//	/tmp/firsthit spawn 50 /tmp/firsthit hit DIR 991
//
// Build it once (go build -o /tmp/firsthit ./internal/cmd/firsthit) and run
// the binary, so each run is a fresh process; BENCHMARKS.md has the numbers.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pcache/pcache"
)

// Args is the wrapped function's argument.
type Args struct{ N int }

// result is a small result, distinct per key (about 60 bytes).
func result(_ context.Context, a Args) (string, error) {
	return fmt.Sprintf("result-%08d-%s", a.N, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "firsthit:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: firsthit fill DIR N | hit DIR K | hits DIR N | tree DIR | read FILE | spawn N CMD...")
	}
	ctx := context.Background()
	switch args[0] {
	case "fill":
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		s, err := pcache.Open(args[1])
		if err != nil {
			return err
		}
		f := pcache.MustWrap(s, "bench/firsthit", result)
		start := time.Now()
		for i := range n {
			if _, err := f.Call(ctx, Args{i}); err != nil {
				return err
			}
		}
		calls := time.Since(start)
		if err := s.Close(); err != nil {
			return err
		}
		fmt.Printf("fill %d: calls %v  close %v\n", n, calls, time.Since(start)-calls)
		return nil
	case "hit":
		k, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		if p := os.Getenv("FIRSTHIT_TRACE"); p != "" {
			tf, err := os.Create(p)
			if err != nil {
				return err
			}
			defer tf.Close()
			if err := trace.Start(tf); err != nil {
				return err
			}
			defer trace.Stop()
		}
		f0, t0 := faultsNow(), time.Now()
		s, err := pcache.Open(args[1])
		if err != nil {
			return err
		}
		f1, t1 := faultsNow(), time.Now()
		f := pcache.MustWrap(s, "bench/firsthit", result)
		f2, t2 := faultsNow(), time.Now()
		if _, err := f.Call(pcache.ErrorOnMiss(ctx), Args{k}); err != nil {
			return err
		}
		f3, t3 := faultsNow(), time.Now()
		err = s.Close()
		f4, t4 := faultsNow(), time.Now()
		fmt.Printf("open %v  wrap %v  hit %v  open+first hit %v  close %v  (page faults: open %s wrap %s hit %s close %s)\n",
			t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t3.Sub(t0), t4.Sub(t3), f1.since(f0), f2.since(f1), f3.since(f2), f4.since(f3))
		return err
	case "hits":
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		return steadyHits(ctx, args[1], n)
	case "tree":
		for i := range 256 {
			d := filepath.Join(args[1], fmt.Sprintf("%02x", i))
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(d, "f"), []byte(fmt.Sprintf("small file %d\n", i)), 0o644); err != nil {
				return err
			}
		}
		return nil
	case "spawn":
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 || len(args) < 3 {
			return fmt.Errorf("usage: firsthit spawn N CMD [ARG...]")
		}
		return spawn(n, args[2:])
	case "read":
		t0 := time.Now()
		b, err := os.ReadFile(args[1])
		fmt.Printf("read %d bytes in %v\n", len(b), time.Since(t0))
		return err
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

// faults counts the page faults the process has taken so far, major (a
// read from disk) and minor: on a virtual machine even a minor one costs
// microseconds, and a fresh process's first hit is mostly first touches.
// faultsNow (faults_unix.go) reads them; elsewhere they stay zero.
type faults struct{ minor, major int64 }

func (f faults) since(g faults) string {
	if f.major == g.major {
		return fmt.Sprint(f.minor - g.minor)
	}
	return fmt.Sprintf("%d+%d major", f.minor-g.minor, f.major-g.major)
}

// steadyHits hits 1000 keys spread over the n entries of the cache in dir,
// round after round, and prints the best round's time per hit. With
// FIRSTHIT_CPUPROFILE set, it writes a CPU profile of the rounds there.
func steadyHits(ctx context.Context, dir string, n int) error {
	s, err := pcache.Open(dir)
	if err != nil {
		return err
	}
	defer s.Close()
	f := pcache.MustWrap(s, "bench/firsthit", result)
	if p := os.Getenv("FIRSTHIT_CPUPROFILE"); p != "" {
		pf, err := os.Create(p)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	keys := make([]Args, 1000)
	for i := range keys {
		keys[i] = Args{i * (n / len(keys))}
	}
	best := time.Duration(1 << 62)
	for range 100 {
		t0 := time.Now()
		for range 20 {
			for _, k := range keys {
				if _, err := f.Call(pcache.ErrorOnMiss(ctx), k); err != nil {
					return err
				}
			}
		}
		best = min(best, time.Since(t0)/time.Duration(20*len(keys)))
	}
	fmt.Printf("best hit %v over 100 rounds of 20x%d keys\n", best, len(keys))
	return nil
}

// spawn runs cmd n times, one after another, and prints the quartiles of
// the wall time from starting each process to its exit.
func spawn(n int, cmd []string) error {
	ds := make([]time.Duration, n)
	for i := range ds {
		c := exec.Command(cmd[0], cmd[1:]...)
		c.Stderr = os.Stderr
		t0 := time.Now()
		if err := c.Run(); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(cmd, " "), err)
		}
		ds[i] = time.Since(t0)
	}
	slices.Sort(ds)
	q := func(f float64) time.Duration { return ds[int(f*float64(n-1))] }
	fmt.Printf("%s: start to exit, %d runs: median %v (quartiles %v, %v)\n", strings.Join(cmd, " "), n,
		q(0.5).Round(10*time.Microsecond), q(0.25).Round(10*time.Microsecond), q(0.75).Round(10*time.Microsecond))
	return nil
}
