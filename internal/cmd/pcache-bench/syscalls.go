package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pcache/pcache"
)

// syscalls counts the system calls of a small miss and a small hit of the
// peers' function: three children under `strace -f -c` do the same set-up
// (Open a new cache, Wrap, Close) with 0 operations, with N misses, and with
// N misses then N hits; the differences divided by N are the calls per op.
func (b *bench) syscalls(ctx context.Context) error {
	n := b.cfg.syscallOps
	const what = "strace -f -c of a child"
	missRow := Row{ID: "syscalls-miss", Scenario: fmt.Sprintf("system calls per small miss (peers' f; %s: %d misses, minus one doing none)", what, n),
		Unit: unitCalls, Target: &Target{"value", "<=", 8, issueSmall}}
	hitRow := Row{ID: "syscalls-hit", Scenario: fmt.Sprintf("system calls per small hit (the same child then doing %d hits, minus it doing none)", n),
		Unit: unitCalls, Target: &Target{"value", "<=", 2, issueSmall}}
	strace, err := exec.LookPath("strace")
	if err != nil {
		missRow.Error = "strace not found in $PATH: install strace to count system calls"
		hitRow.Error = missRow.Error
		b.add(missRow)
		b.add(hitRow)
		return nil
	}
	dir, err := b.subdir("syscalls")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	var counts [3]map[string]float64
	for i, job := range []childJob{{Misses: 0}, {Misses: n}, {Misses: n, Hits: n}} {
		job.Mode, job.Dir = "syscalls", filepath.Join(dir, fmt.Sprintf("cache-%d", i))
		out := filepath.Join(dir, fmt.Sprintf("strace-%d.txt", i))
		if _, err := runChild(ctx, job, strace, "-f", "-c", "-o", out); err != nil {
			return fmt.Errorf("strace child (%d misses, %d hits): %w", job.Misses, job.Hits, err)
		}
		if counts[i], err = readStraceSummary(out); err != nil {
			return err
		}
	}
	missRow.Result, missRow.Note = opCalls(perOpCounts(counts[1], counts[0], n))
	hitRow.Result, hitRow.Note = opCalls(perOpCounts(counts[2], counts[1], n))
	b.add(missRow)
	b.add(hitRow)
	return nil
}

// syscallsChild is a child under strace: Open a new cache, Wrap the peers'
// function, job.Misses misses, job.Hits hits cycling over the keys stored,
// Close.
func syscallsChild(ctx context.Context, job childJob) (childResult, error) {
	if job.Hits > 0 && job.Misses == 0 {
		return childResult{}, fmt.Errorf("%d hits need misses to store their keys first", job.Hits)
	}
	s, err := pcache.Open(job.Dir)
	if err != nil {
		return childResult{}, err
	}
	f, err := pcache.Wrap(s, peerName, peerResult)
	if err != nil {
		s.Close()
		return childResult{}, err
	}
	for x := range job.Misses {
		if _, err := f.Call(ctx, peerKey(x)); err != nil {
			s.Close()
			return childResult{}, err
		}
	}
	hctx := pcache.ErrorOnMiss(ctx)
	for j := range job.Hits {
		if _, err := f.Call(hctx, peerKey(j%job.Misses)); err != nil {
			s.Close()
			return childResult{}, err
		}
	}
	if err := s.Close(); err != nil {
		return childResult{}, err
	}
	if st := f.Stats(); st.Misses != int64(job.Misses) || st.Hits != int64(job.Hits) || st.Stores != int64(job.Misses) {
		return childResult{}, fmt.Errorf("%d misses, %d hits, %d stores; want %d, %d, %d", st.Misses, st.Hits, st.Stores, job.Misses, job.Hits, job.Misses)
	}
	return childResult{}, nil
}

// readStraceSummary reads the table `strace -c -o FILE` writes: system call
// name -> calls, plus "total".
//
//	% time     seconds  usecs/call     calls    errors syscall
//	------ ----------- ----------- --------- --------- ----------------
//	 52.17    0.000120           2        48         3 openat
func readStraceSummary(path string) (map[string]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("strace summary: %w", err)
	}
	counts := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || len(f) > 6 {
			continue
		}
		if _, err := strconv.ParseFloat(f[0], 64); err != nil {
			continue // the header and the rules
		}
		calls, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			return nil, fmt.Errorf("strace summary %s: bad line %q", path, sc.Text())
		}
		counts[f[len(f)-1]] = calls
	}
	if counts["total"] == 0 {
		return nil, fmt.Errorf("strace summary %s: no total in %q", path, data)
	}
	return counts, nil
}

// perOpCounts is (a - base) / n for every system call.
func perOpCounts(a, base map[string]float64, n int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range a {
		out[k] = (v - base[k]) / float64(n)
	}
	for k, v := range base {
		if _, ok := a[k]; !ok {
			out[k] = -v / float64(n)
		}
	}
	return out
}

// runtimeClockCalls are the Go runtime's system calls that follow the
// clock, not the work: sysmon's and the schedulers' sleeps (nanosleep) and
// asynchronous preemption (getpid, tgkill, rt_sigreturn). A child that runs
// longer makes more of them, whatever it does, and more still under strace,
// which slows it; they are reported apart and not counted.
var runtimeClockCalls = []string{"nanosleep", "getpid", "tgkill", "rt_sigreturn"}

// opCalls returns the calls per op that count, and the breakdown of those
// and of the clock-driven runtime calls left out.
func opCalls(per map[string]float64) (float64, string) {
	counted, clock := map[string]float64{}, map[string]float64{}
	total := per["total"]
	for k, v := range per {
		if k == "total" {
			continue
		}
		if slices.Contains(runtimeClockCalls, k) {
			clock[k] = v
			total -= v
		} else {
			counted[k] = v
		}
	}
	return total, breakdown(counted) + "; not counted, the Go runtime's clock-driven calls: " + breakdown(clock)
}

// breakdown renders the calls per op of each system call, most first, those
// within 0.01 of zero left out.
func breakdown(per map[string]float64) string {
	var names []string
	for k, v := range per {
		if v >= 0.01 || v <= -0.01 {
			names = append(names, k)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if per[a] != per[b] {
			if per[a] > per[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	if len(names) == 0 {
		return "none"
	}
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %.2f", k, per[k])
	}
	return strings.Join(parts, ", ")
}
