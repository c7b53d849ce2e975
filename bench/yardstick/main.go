// Command yardstick measures pcache against what a Go programmer would
// hand-roll instead: a 30-line memoizer over bbolt, with the same keys and
// values, in the same run (issue 25's yardstick).
//
//	cd bench/yardstick && go build -o /tmp/yardstick . && /tmp/yardstick -dir /tmp/ys -n 100000 -fsck /tmp/pcache-fsck
//
// It is a module of its own so that bbolt never enters pcache's go.mod.
// Each side fills a fresh directory with n distinct small results (the
// peers' f(x, y=2) → [x, y, x+y]), then reports, per entry: the miss (no
// fsync, and durable: fsynced before the call returns), the hit (a new
// handle in the same process, keys in a shuffled order), the bytes on disk
// (allocated blocks and apparent sizes, right after the fill and, for
// pcache, after `pcache-fsck gc -grace 0s` retires what compaction left for
// rsync's grace hour), and a fresh process's open + first hit (median of
// -fresh runs, each a new process).
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// Args is the memoized function's argument; f is the function.
type Args struct{ X, Y int }

func f(a Args) []int { return []int{a.X, a.Y, a.X + a.Y} }

// memo is one side: a memoizer over a directory.
type memo interface {
	call(a Args) ([]int, error)
	close() error
}

// side opens a memoizer on dir (durable: every miss fsynced).
type side struct {
	name string
	open func(dir string, durable bool) (memo, error)
}

var sides = []side{
	{"pcache", openPcache},
	{"bbolt", openBolt},
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "first" { // a fresh process: first side dir key
		os.Exit(first(os.Args[2:]))
	}
	dir := flag.String("dir", "", "scratch directory (made and emptied by the run)")
	n := flag.Int("n", 100000, "entries per fill")
	durableN := flag.Int("durable", 2000, "misses measured with fsync")
	fresh := flag.Int("fresh", 7, "fresh processes per first-hit median")
	fsck := flag.String("fsck", "", "pcache-fsck binary, for the after-gc disk use")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "yardstick: -dir is required")
		os.Exit(2)
	}
	if err := run(*dir, *n, *durableN, *fresh, *fsck); err != nil {
		fmt.Fprintln(os.Stderr, "yardstick:", err)
		os.Exit(1)
	}
}

func run(dir string, n, durableN, fresh int, fsck string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fmt.Printf("yardstick: %d distinct small results per fill, %d durable misses, uid %d\n\n", n, durableN, os.Getuid())
	fmt.Println("| | miss | durable miss | hit | disk/entry (allocated) | disk/entry (apparent) | fresh open + first hit |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, sd := range sides {
		r, err := measure(sd, filepath.Join(dir, sd.name), n, durableN, fresh, fsck)
		if err != nil {
			return fmt.Errorf("%s: %w", sd.name, err)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", sd.name, r.miss, r.durable, r.hit, r.disk, r.apparent, r.first)
	}
	return nil
}

// result is one side's row.
type result struct {
	miss, durable, hit, first time.Duration
	disk, apparent            string
}

func measure(sd side, dir string, n, durableN, fresh int, fsck string) (result, error) {
	var r result
	os.RemoveAll(dir)
	fill, dur := filepath.Join(dir, "fill"), filepath.Join(dir, "durable")
	var err error
	if r.miss, err = misses(sd, fill, false, 0, n); err != nil {
		return r, err
	}
	if r.durable, err = misses(sd, dur, true, 0, durableN); err != nil {
		return r, err
	}
	alloc, apparent, err := du(fill)
	if err != nil {
		return r, err
	}
	r.disk, r.apparent = perEntry(alloc, n), perEntry(apparent, n)
	if sd.name == "pcache" && fsck != "" {
		if out, err := exec.Command(fsck, "gc", "-grace", "0s", "-dir", fill).CombinedOutput(); err != nil {
			return r, fmt.Errorf("pcache-fsck gc: %v\n%s", err, out)
		}
		alloc2, apparent2, err := du(fill)
		if err != nil {
			return r, err
		}
		r.disk += fmt.Sprintf(" (%s after gc)", perEntry(alloc2, n))
		r.apparent += fmt.Sprintf(" (%s after gc)", perEntry(apparent2, n))
	}
	if r.hit, err = hits(sd, fill, n); err != nil {
		return r, err
	}
	r.first, err = firstHits(sd, fill, n, fresh)
	return r, err
}

// misses calls keys [lo, hi) on a new memoizer over dir and returns the
// time per call.
func misses(sd side, dir string, durable bool, lo, hi int) (time.Duration, error) {
	m, err := sd.open(dir, durable)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	for x := lo; x < hi; x++ {
		if _, err := m.call(Args{x, 2}); err != nil {
			m.close()
			return 0, err
		}
	}
	d := time.Since(t0)
	return d / time.Duration(hi-lo), m.close()
}

// hits calls every key of a fill, shuffled, on a new memoizer, and checks
// each value.
func hits(sd side, dir string, n int) (time.Duration, error) {
	m, err := sd.open(dir, false)
	if err != nil {
		return 0, err
	}
	defer m.close()
	keys := rand.Perm(n)
	t0 := time.Now()
	for _, x := range keys {
		v, err := m.call(Args{x, 2})
		if err != nil {
			return 0, err
		}
		if len(v) != 3 || v[2] != x+2 {
			return 0, fmt.Errorf("key %d: got %v", x, v)
		}
	}
	return time.Since(t0) / time.Duration(n), nil
}

// firstHits runs fresh processes that open dir and hit one key, and
// returns the median of what each measured from before its open to after
// its hit.
func firstHits(sd side, dir string, n, runs int) (time.Duration, error) {
	var ds []time.Duration
	for i := range runs {
		out, err := exec.Command(os.Args[0], "first", sd.name, dir, strconv.Itoa((i*7919)%n)).Output()
		if err != nil {
			return 0, fmt.Errorf("fresh process: %v", err)
		}
		d, err := time.ParseDuration(string(out))
		if err != nil {
			return 0, fmt.Errorf("fresh process printed %q", out)
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// first is the fresh process: open, one hit, print the time, close.
func first(args []string) int {
	i := slices.IndexFunc(sides, func(s side) bool { return s.name == args[0] })
	x, _ := strconv.Atoi(args[2])
	t0 := time.Now()
	m, err := sides[i].open(args[1], false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	v, err := m.call(Args{x, 2})
	d := time.Since(t0)
	if err != nil || len(v) != 3 || v[2] != x+2 {
		fmt.Fprintln(os.Stderr, "first hit:", v, err)
		return 1
	}
	fmt.Print(d)
	if err := m.close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// du sums the allocated blocks and apparent sizes of the files under dir.
func du(dir string) (alloc, apparent int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			alloc += st.Blocks * 512
		}
		if fi.Mode().IsRegular() {
			apparent += fi.Size()
		}
		return nil
	})
	return alloc, apparent, err
}

func perEntry(bytes int64, n int) string { return fmt.Sprintf("%.0f B", float64(bytes)/float64(n)) }
