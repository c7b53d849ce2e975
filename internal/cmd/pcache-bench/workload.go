package main

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/pcache/pcache"
)

// The real workload: data no one here wrote (the Go standard library's
// sources, in GOROOT/src) processed by a real library function
// (go/parser.ParseFile, then a walk counting the syntax tree's nodes), the
// way a build step or a code-analysis pipeline runs it: one cached call per
// file, keyed by the file's name and contents.

// parseArgs is the cached function's argument: the whole source is in the
// key, so an edited file is a new entry.
type parseArgs struct {
	Name string
	Src  []byte
}

// parseStats is its result: small, distinct per file.
type parseStats struct {
	Decls, Funcs, Imports, Nodes int
}

func parseFile(_ context.Context, a parseArgs) (parseStats, error) {
	f, err := parser.ParseFile(token.NewFileSet(), a.Name, a.Src, parser.ParseComments)
	if err != nil {
		return parseStats{}, err
	}
	st := parseStats{Decls: len(f.Decls), Imports: len(f.Imports)}
	ast.Inspect(f, func(n ast.Node) bool {
		if n != nil {
			st.Nodes++
			if _, ok := n.(*ast.FuncDecl); ok {
				st.Funcs++
			}
		}
		return true
	})
	return st, nil
}

// corpus reads up to n .go files of GOROOT/src (testdata left out: some
// of it does not parse on purpose), in a fixed order, into memory.
func corpus(n int) ([]parseArgs, int64, error) {
	root := filepath.Join(runtime.GOROOT(), "src")
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "testdata":
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(p, ".go"):
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("the corpus (the Go sources in %s): %w", root, err)
	}
	slices.Sort(files)
	if len(files) > n { // an even spread over the tree, not its first directories
		step := float64(len(files)) / float64(n)
		picked := make([]string, n)
		for i := range n {
			picked[i] = files[int(float64(i)*step)]
		}
		files = picked
	}
	var args []parseArgs
	var bytes int64
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, 0, err
		}
		rel, _ := filepath.Rel(root, p)
		args = append(args, parseArgs{rel, src})
		bytes += int64(len(src))
	}
	return args, bytes, nil
}

// workload measures the real workload three ways per file: uncached (the
// floor), on an empty cache (every call a miss: computed and stored, Close
// included), and on the filled cache in a new Store (every call a hit,
// Open and Close included).
func (b *bench) workload(ctx context.Context) error {
	files, bytes, err := corpus(b.cfg.corpusFiles)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no .go files under %s", filepath.Join(runtime.GOROOT(), "src"))
	}
	dir, err := b.subdir("workload")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	want := make([]parseStats, len(files))
	for i, a := range files { // the answers, and files that don't parse left out
		if want[i], err = parseFile(ctx, a); err != nil {
			return fmt.Errorf("corpus file %s: %w", a.Name, err)
		}
	}
	round := 0
	raw := func() (float64, error) {
		return timed(func() error {
			for _, a := range files {
				if _, err := parseFile(ctx, a); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var cache string
	cold := func() (float64, error) {
		round++
		cache = filepath.Join(dir, fmt.Sprint(round))
		return timed(func() error { return b.workloadRun(ctx, cache, files, want, false) })
	}
	warm := func() (float64, error) {
		return timed(func() error { return b.workloadRun(ctx, cache, files, want, true) })
	}
	best, err := interleave(ctx, b.cfg.rounds, raw, cold, warm)
	if err != nil {
		return err
	}
	n := float64(len(files))
	what := fmt.Sprintf("%d Go files of GOROOT/src (%s) parsed by go/parser.ParseFile, one cached call per file keyed by name and contents", len(files), fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)))
	b.add(Row{ID: "workload-miss", Scenario: "real workload, empty cache: " + what + " (Open to Close)", Unit: unitNs, Result: best[1] / n,
		Floor: "the same calls uncached", FloorValue: best[0] / n, Target: &Target{"ratio", "<=", 1.1, "ours: a miss costs under 10% of the work"}})
	b.add(Row{ID: "workload-hit", Scenario: "real workload, warm cache: the same calls in a new Store (Open to Close)", Unit: unitNs, Result: best[2] / n,
		Floor: "the same calls uncached", FloorValue: best[0] / n, Target: &Target{"ratio", "<=", 0.05, "ours: a warm run 20× faster"}})
	return nil
}

// workloadRun opens the cache at dir, calls the function on every file
// (checking each result) and closes it; warm says every call must hit.
func (b *bench) workloadRun(ctx context.Context, dir string, files []parseArgs, want []parseStats, warm bool) error {
	s, err := pcache.Open(dir)
	if err != nil {
		return err
	}
	f, err := pcache.Wrap(s, "bench/parse", parseFile)
	if err != nil {
		s.Close()
		return err
	}
	if warm {
		ctx = pcache.ErrorOnMiss(ctx)
	}
	for i, a := range files {
		got, err := f.Call(ctx, a)
		if err != nil {
			s.Close()
			return fmt.Errorf("%s: %w", a.Name, err)
		}
		if got != want[i] {
			s.Close()
			return fmt.Errorf("%s: got %+v, want %+v", a.Name, got, want[i])
		}
	}
	return s.Close()
}
