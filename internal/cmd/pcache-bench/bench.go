package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// config holds the sizes and durations of one run.
type config struct {
	dir  string // scratch directory, removed afterwards
	fsck string // pcache-fsck binary; "" finds or builds one

	entries    [3]int        // entries of the hit scenarios: 1e3, 1e5, 1e6
	hitKeys    int           // distinct keys a hit scenario cycles through
	goroutines int           // concurrent hit scenario
	big        int           // bytes of a big result, out file, hashed slice
	batch      int           // elements per batch call
	memSize    int           // bytes of the result whose peak RSS is measured
	checkObjs  int           // objects in the check scenario
	checkSize  int           // bytes per object there
	probe      time.Duration // length of one small-operation probe
	rounds     int           // rounds of small probes (the best counts)
	bigRounds  int           // rounds of big probes
	children   int           // fresh processes for the first-hit scenario
	checkRuns  int           // timed pcache-fsck check runs
	fillBatch  int           // elements per WrapBatch call when filling entries

	treeFiles    int // small files of the file-tree floors, over 256 directories
	syscallOps   int // misses (then as many hits) of a child counted under strace
	peerKeys     int // distinct keys of a peer's misses (its hits cycle over them)
	peerHits     int // hits per peer run
	peerSlowKeys int // the same for the slower peers (joblib, permacache)
	peerSlowHits int
	sharedKeys   int // keys the processes of the multi-process scenario share
	sharedProcs  int // processes there
	remoteKeys   int // entries a remote-hit round publishes and then hits once each
	remoteBig    int // bytes of the result of the remote upload scenario
	corpusFiles  int // files of the real workload
}

func fullConfig() config {
	return config{
		entries: [3]int{1e3, 1e5, 1e6}, hitKeys: 1000, goroutines: 8,
		big: 256 << 20, batch: 10000, memSize: 1 << 30,
		checkObjs: 64, checkSize: 16 << 20,
		probe: 300 * time.Millisecond, rounds: 5, bigRounds: 3, children: 7, checkRuns: 3,
		fillBatch: 10000,
		treeFiles: 1e5, syscallOps: 5000,
		peerKeys: 2000, peerHits: 10000, peerSlowKeys: 500, peerSlowHits: 2500,
		sharedKeys: 2000, sharedProcs: 4,
		remoteKeys: 2000, remoteBig: 100 << 20,
		corpusFiles: 3000,
	}
}

func quickConfig() config {
	return config{
		entries: [3]int{1e2, 3e2, 1e3}, hitKeys: 100, goroutines: 8,
		big: 4 << 20, batch: 500, memSize: 16 << 20,
		checkObjs: 8, checkSize: 1 << 20,
		probe: 5 * time.Millisecond, rounds: 1, bigRounds: 1, children: 1, checkRuns: 1,
		fillBatch: 10000,
		treeFiles: 512, syscallOps: 200,
		peerKeys: 50, peerHits: 100, peerSlowKeys: 20, peerSlowHits: 40,
		sharedKeys: 200, sharedProcs: 4,
		remoteKeys: 200, remoteBig: 8 << 20,
		corpusFiles: 100,
	}
}

// bench is one run in progress.
type bench struct {
	cfg  config
	log  io.Writer
	rows []Row

	idleRSS int64     // peak RSS of a child that does nothing; measured once
	tree    *fileTree // the small-file tree of the floors; built once
	py      *python   // the python3 that runs the peers; probed once
}

// group is a set of scenarios sharing a setup.
type group struct {
	name string
	ids  []string // the rows it produces, in order
	run  func(b *bench, ctx context.Context) error
}

var groups = []group{
	{"hit", []string{"hit-small", "hit-small-abs", "hit-small-mid", "hit-small-large", "hit-8g", "hit-scaling", "first-hit-fresh", "rss-load-entries"}, (*bench).hits},
	{"hitdistinct", []string{"hit-distinct-small", "hit-distinct-mid", "hit-distinct-large"}, (*bench).distinctHits},
	{"miss", []string{"miss-tree", "miss", "miss-abs"}, (*bench).misses},
	{"syscalls", []string{"syscalls-miss", "syscalls-hit"}, (*bench).syscalls},
	{"batch", []string{"batch-hits", "batch-misses"}, (*bench).batches},
	{"big", []string{"store-big", "hit-big"}, (*bench).bigResults},
	{"stablehash", []string{"stablehash"}, (*bench).stableHash},
	{"outfile", []string{"outfile-capture", "outfile-restore"}, (*bench).outFiles},
	{"check", []string{"check"}, (*bench).check},
	{"memory", []string{"rss-store", "rss-load"}, (*bench).memory},
	{"peers", []string{"peers-miss", "peers-hit", "peers-joblib-miss", "peers-joblib-hit", "peers-permacache-miss", "peers-permacache-hit"}, (*bench).peers},
	{"multiproc", []string{"multiproc-computes", "multiproc-diskcache-computes", "multiproc-wall"}, (*bench).multiProc},
	{"workload", []string{"workload-miss", "workload-hit"}, (*bench).workload},
	{"remote", []string{"remote-hit", "remote-hit-local", "remote-hit-noka", "remote-upload-100MiB", "remote-hit-file"}, (*bench).remoteTier},
}

func groupNames() []string {
	var s []string
	for _, g := range groups {
		s = append(s, g.name)
	}
	return s
}

// allIDs is every row ID a full run produces, in order.
func allIDs() []string {
	var s []string
	for _, g := range groups {
		s = append(s, g.ids...)
	}
	return s
}

func (b *bench) add(r Row) {
	r.finish()
	b.rows = append(b.rows, r)
}

// fillMissing adds an error row for every row of g that its run (which added
// rows from index from on) did not produce.
func (b *bench) fillMissing(from int, g group, err error) {
	have := map[string]bool{}
	for _, r := range b.rows[from:] {
		have[r.ID] = true
	}
	msg := "not measured"
	if err != nil {
		msg = err.Error()
	}
	for _, id := range g.ids {
		if !have[id] {
			b.add(Row{ID: id, Scenario: id, Error: msg})
		}
	}
	// Keep the group's rows in its declared order.
	pos := map[string]int{}
	for i, id := range g.ids {
		pos[id] = i
	}
	rows := b.rows[from:]
	sort.SliceStable(rows, func(i, j int) bool { return pos[rows[i].ID] < pos[rows[j].ID] })
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "pcache-bench:   "+format+"\n", args...)
}

// subdir creates a fresh scratch subdirectory.
func (b *bench) subdir(name string) (string, error) {
	d := filepath.Join(b.cfg.dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", err
	}
	return d, nil
}

// chmodTree makes every directory under dir writable so it can be removed.
func chmodTree(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

// sizeName renders a byte count as "256 MiB" or "1 GiB".
func sizeName(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// countName renders 1000 as "1e3", 30000 as "3e4", others in digits.
func countName(n int) string {
	e, m := 0, n
	for m >= 10 && m%10 == 0 {
		m /= 10
		e++
	}
	if e >= 3 && m < 10 {
		if m == 1 {
			return fmt.Sprintf("1e%d", e)
		}
		return fmt.Sprintf("%de%d", m, e)
	}
	return fmt.Sprint(n)
}
