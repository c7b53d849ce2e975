// Command pcache-bench measures pcache end to end and prints one markdown
// table: each scenario beside a floor measured on this machine in the same run.
//
// Usage:
//
//	pcache-bench [-dir DIR] [-quick] [-json] [-run REGEXP] [-fsck PATH] [-cpuprofile FILE]
//
// Each scenario (cache hits with 1e3, 1e5 and 1e6 entries, both where all
// entries share one result object and where each has its own, hits from 8
// goroutines, a fresh process's first hit, misses, the system calls of a
// small miss and hit, batches of 10,000, 256 MiB results, StableHash of 32 Mi
// float64s, out-file capture and restore, pcache-fsck check throughput, the
// peak memory of storing and loading a 1 GiB result, the python caches
// diskcache, joblib and permacache on the same function, 4 processes
// sharing 2,000 keys, and the remote tier: hits a fresh local cache gets from
// an S3 server or a file:// remote, and the upload of a 100 MiB result) is
// compared with what the same work costs without pcache on this machine — a
// small-file open+read, one os.ReadFile of a tree of 1e5 small files, a
// small-file write+rename, raw BLAKE3, a plain file write or read of the
// same bytes, the python peer, one GET or PUT through the remote's own
// backend — measured in the same run, interleaved with the scenario so that
// both see the same load. The ratio is checked against the project's
// target; every missed target says MISS.
//
// Scratch data lives in a new directory inside -dir (default: the system temp
// directory), removed at the end, also after an interrupt. A full run needs
// about 3 GiB of free disk and memory and takes a few minutes; -quick shrinks
// every size for a smoke test of a few seconds.
//
// Check throughput runs the real pcache-fsck binary: -fsck names it; by
// default pcache-bench uses a pcache-fsck beside its own executable, else
// builds one with `go build` (inside the module), else takes one from $PATH.
//
// The system-call rows run children under `strace -f -c`; without strace on
// $PATH they are errors that say so (the run still exits 0). The python
// peers run embedded peers.py under $PCACHE_BENCH_PYTHON, else the first of
// python3 on $PATH and /usr/bin/python3 that imports diskcache; permacache
// is imported from the source tree $PERMACACHE_SRC. Rows of a peer that is
// not installed are "skipped", not failures. peers.sh beside this file runs
// just the peer comparisons. The remote rows start versitygw (found as
// internal/remotetest finds it: $PCACHE_TEST_VERSITYGW, $PATH, $GOBIN,
// $GOPATH/bin) on loopback with its data in the scratch directory, and stop
// it at the end of the group; without it the S3 rows are "skipped" and the
// file:// row is measured alone.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime/pprof"
	"strings"
	"time"
)

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(childMain(spec))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is one invocation: it returns 0 when every scenario ran (whether or
// not it met its target), 1 when one failed to run, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pcache-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "create the scratch `directory` inside this one (default: the system temp directory); it is removed afterwards")
	quick := fs.Bool("quick", false, "small sizes and short runs: a smoke test, not a measurement")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of markdown")
	only := fs.String("run", "", "run only the scenario groups matching this `regexp` ("+strings.Join(groupNames(), ", ")+")")
	fsck := fs.String("fsck", "", "the pcache-fsck `binary` to measure (default: beside this program, else go build, else $PATH)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process to `file`")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pcache-bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	var filter *regexp.Regexp
	if *only != "" {
		var err error
		if filter, err = regexp.Compile(*only); err != nil {
			fmt.Fprintf(stderr, "pcache-bench: -run: %v\n", err)
			return 2
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "pcache-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "pcache-bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	scratch, err := os.MkdirTemp(*dir, "pcache-bench-")
	if err != nil {
		fmt.Fprintf(stderr, "pcache-bench: scratch directory: %v\n", err)
		return 1
	}
	defer removeAll(scratch)

	cfg := fullConfig()
	if *quick {
		cfg = quickConfig()
	}
	cfg.dir = scratch
	cfg.fsck = *fsck
	b := &bench{cfg: cfg, log: stderr}
	start := time.Now()
	rep := Report{Command: commandLine(args), Quick: *quick, Machine: describeMachine(scratch)}
	failed := false
	for _, g := range groups {
		if filter != nil && !filter.MatchString(g.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stderr, "pcache-bench: %s…\n", g.name)
		t0 := time.Now()
		n := len(b.rows)
		err := g.run(b, ctx)
		if err != nil {
			fmt.Fprintf(stderr, "pcache-bench: %s: %v\n", g.name, err)
			failed = true
		}
		b.fillMissing(n, g, err)
		fmt.Fprintf(stderr, "pcache-bench: %s done in %.1fs\n", g.name, time.Since(t0).Seconds())
	}
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(stderr, "pcache-bench: interrupted\n")
		return 1
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Machine.LoadEnd = loadAverage()
	rep.Rows = b.rows
	if *asJSON {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeMarkdown(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pcache-bench: %v\n", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

func commandLine(args []string) string {
	return strings.TrimSpace("pcache-bench " + strings.Join(args, " "))
}

// removeAll deletes a scratch tree, making read-only directories writable
// first if a plain RemoveAll fails (objects are stored read-only).
func removeAll(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	chmodTree(dir)
	os.RemoveAll(dir)
}
