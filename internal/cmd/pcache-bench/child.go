package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/pcache/pcache"
)

// childEnv carries a childJob to a re-executed copy of this program (or of
// its test binary, whose TestMain honours it too). Memory and fresh-process
// scenarios run there so that their peak RSS and start-up are their own.
const childEnv = "PCACHE_BENCH_CHILD"

// childJob is what one child process does.
type childJob struct {
	Mode   string `json:"mode"` // "idle", "firsthit", "store", "load", "syscalls" or "shared"
	Dir    string `json:"dir"`
	Name   string `json:"name,omitempty"`
	N      int    `json:"n,omitempty"`      // firsthit: the key's N
	Size   int    `json:"size,omitempty"`   // store, load: result size in bytes
	Misses int    `json:"misses,omitempty"` // syscalls: peers' f on new keys 0..Misses-1
	Hits   int    `json:"hits,omitempty"`   // syscalls: then as many hits, cycling over those keys
	Keys   int    `json:"keys,omitempty"`   // shared: peers' f on keys 0..Keys-1,
	Mult   int    `json:"mult,omitempty"`   // in the order (j*Mult + Offset) % Keys
	Offset int    `json:"offset,omitempty"`
}

// childResult is what a child prints on stdout.
type childResult struct {
	Ns       float64 `json:"ns"`                 // time of the measured part, inside the child
	HWM      int64   `json:"hwm,omitempty"`      // the child's own peak RSS in bytes (VmHWM), where known
	Computes int64   `json:"computes,omitempty"` // shared: the function's computations in this process
	Hits     int64   `json:"hits,omitempty"`     // shared: its hits
	Waits    int64   `json:"waits,omitempty"`    // shared: misses served by waiting for another process
}

// childOutcome is a child's result with what the parent saw of it.
type childOutcome struct {
	childResult
	MaxRSS int64   // peak resident set size in bytes (0 if unknown)
	WallNs float64 // from start to exit, as seen by the parent
}

// peakRSS is the child's peak resident set size. On Linux the rusage
// ru_maxrss of a child started by os/exec is no use: Go starts children
// with clone(CLONE_VM|CLONE_VFORK), so until its exec the child runs in the
// parent's address space, and exec carries that address space's high-water
// mark into the new process's maxrss (fs/exec.c, setmax_mm_hiwater_rss).
// The child's ru_maxrss is thus at least the parent's own peak. VmHWM in
// /proc/self/status, read by the child just before it exits, is the peak of
// the child's own address space only.
func (o childOutcome) peakRSS() int64 {
	if o.HWM > 0 {
		return o.HWM
	}
	return o.MaxRSS
}

// childMain runs the job in $PCACHE_BENCH_CHILD and returns the exit code.
func childMain(spec string) int {
	var job childJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		fmt.Fprintf(os.Stderr, "pcache-bench child: bad %s: %v\n", childEnv, err)
		return 2
	}
	res, err := runChildJob(context.Background(), job)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pcache-bench child %s: %v\n", job.Mode, err)
		return 1
	}
	res.HWM = ownPeakRSS()
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

func runChildJob(ctx context.Context, job childJob) (childResult, error) {
	switch job.Mode {
	case "idle":
		return childResult{}, nil
	case "firsthit":
		start := time.Now()
		s, err := pcache.Open(job.Dir)
		if err != nil {
			return childResult{}, err
		}
		defer s.Close()
		f, err := pcache.Wrap(s, job.Name, smallResult)
		if err != nil {
			return childResult{}, err
		}
		if _, err := f.Call(pcache.ErrorOnMiss(ctx), smallArgs(job.N)); err != nil {
			return childResult{}, err
		}
		return childResult{Ns: float64(time.Since(start).Nanoseconds())}, nil
	case "store", "load":
		s, err := pcache.Open(job.Dir)
		if err != nil {
			return childResult{}, err
		}
		defer s.Close()
		f, err := pcache.Wrap(s, "bench/memory", func(_ context.Context, size int) ([]byte, error) {
			return patternBytes(size, 1), nil
		})
		if err != nil {
			return childResult{}, err
		}
		if job.Mode == "load" {
			ctx = pcache.ErrorOnMiss(ctx)
		}
		start := time.Now()
		b, err := f.Call(ctx, job.Size)
		if err != nil {
			return childResult{}, err
		}
		if len(b) != job.Size {
			return childResult{}, fmt.Errorf("got %d bytes, want %d", len(b), job.Size)
		}
		return childResult{Ns: float64(time.Since(start).Nanoseconds())}, nil
	case "syscalls":
		return syscallsChild(ctx, job)
	case "shared":
		return sharedChild(ctx, job)
	}
	return childResult{}, fmt.Errorf("unknown mode %q", job.Mode)
}

// childCmd is the command that re-executes this program with job, run by
// the command in wrap (strace and its flags) if any.
func childCmd(ctx context.Context, job childJob, wrap ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("child %s: %w", job.Mode, err)
	}
	spec, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	if len(wrap) > 0 {
		cmd = exec.CommandContext(ctx, wrap[0], append(wrap[1:], exe)...)
	}
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	return cmd, nil
}

// runChild re-executes this program with job and returns what it reported.
func runChild(ctx context.Context, job childJob, wrap ...string) (childOutcome, error) {
	cmd, err := childCmd(ctx, job, wrap...)
	if err != nil {
		return childOutcome{}, err
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return childOutcome{}, fmt.Errorf("child %s: %w: %s", job.Mode, err, bytes.TrimSpace(errb.Bytes()))
	}
	var res childResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return childOutcome{}, fmt.Errorf("child %s: bad output %q: %w", job.Mode, out.String(), err)
	}
	return childOutcome{childResult: res, MaxRSS: maxRSS(cmd.ProcessState), WallNs: float64(wall.Nanoseconds())}, nil
}

// ownPeakRSS returns VmHWM from /proc/self/status in bytes, or 0.
func ownPeakRSS() int64 {
	v := procField("/proc/self/status", "VmHWM") // "123456 kB"
	f := strings.Fields(v)
	if len(f) != 2 || f[1] != "kB" {
		return 0
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0
	}
	return n << 10
}

// patternBytes returns size bytes that differ with seed, touching every page.
func patternBytes(size int, seed uint64) []byte {
	b := make([]byte, size)
	x := seed*0x9e3779b97f4a7c15 + 1
	i := 0
	for ; i+8 <= size; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	for ; i < size; i++ {
		b[i] = byte(i)
	}
	return b
}
