package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// fileTree is the floor of small results kept one per file, the way a cache
// without packs keeps them: cfg.treeFiles small files, each its own content,
// spread over 256 directories. It is built once per run, in the scratch
// directory.
type fileTree struct {
	root  string
	paths []string // every file, in creation order
}

// treeDirs is the fan-out of the tree: one directory per first hex byte, as
// a content-addressed store lays out its objects.
const treeDirs = 256

func treeDir(root string, i int) string {
	return filepath.Join(root, fmt.Sprintf("%02x", i%treeDirs))
}

// fileTree returns the run's small-file tree, building it on first use.
func (b *bench) fileTree(ctx context.Context) (*fileTree, error) {
	if b.tree != nil {
		return b.tree, nil
	}
	t := &fileTree{root: filepath.Join(b.cfg.dir, "tree")}
	for i := range treeDirs {
		if err := os.MkdirAll(treeDir(t.root, i), 0o755); err != nil {
			return nil, fmt.Errorf("small-file tree: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(t.root, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("small-file tree: %w", err)
	}
	start := time.Now()
	t.paths = make([]string, b.cfg.treeFiles)
	for i := range t.paths {
		if i%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p := filepath.Join(treeDir(t.root, i), "f"+strconv.Itoa(i))
		if err := os.WriteFile(p, []byte("result "+strconv.Itoa(i)), 0o644); err != nil {
			return nil, fmt.Errorf("small-file tree: %w", err)
		}
		t.paths[i] = p
	}
	b.logf("small-file tree: %d files over %d directories written in %.1fs", len(t.paths), treeDirs, time.Since(start).Seconds())
	b.tree = t
	return t, nil
}

// treeStride visits the tree's files in an order that jumps across
// directories and across the creation order (it is coprime with any count
// not divisible by it).
const treeStride = 7919

// readProbe returns a probe of one os.ReadFile per op, a different file of
// the tree each op.
func (t *fileTree) readProbe(ctx context.Context, d time.Duration) probe {
	n := len(t.paths)
	next := 0
	return func() (float64, error) {
		return perOp(ctx, d, func(int) error {
			next = (next + treeStride) % n
			b, err := os.ReadFile(t.paths[next])
			if err == nil && len(b) == 0 {
				err = fmt.Errorf("read %s: empty", t.paths[next])
			}
			return err
		})
	}
}

// writeProbe returns a probe of one small-file write to a temp name and a
// rename to a new name in one of the tree's 256 directories per op: what
// storing a small result as a file of its own must at least do (no fsync,
// as pcache's default).
func (t *fileTree) writeProbe(ctx context.Context, d time.Duration) probe {
	tmp := filepath.Join(t.root, "tmp", "w")
	n := 0
	return func() (float64, error) {
		return perOp(ctx, d, func(int) error {
			n++
			if err := os.WriteFile(tmp, []byte("result w"+strconv.Itoa(n)), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, filepath.Join(treeDir(t.root, n), "w"+strconv.Itoa(n)))
		})
	}
}
