package pcache_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pcache/pcache"
)

// checkpointArgs names a directory the function creates and fills, as a
// training step writes a model checkpoint.
type checkpointArgs struct {
	Epoch int
	Dir   string `pcache:",out"`
}

// writeCheckpoint writes a tree: files at two depths with their own modes,
// an empty directory, and a file every epoch shares (stored once).
func writeCheckpoint(_ context.Context, a checkpointArgs) (string, error) {
	files := map[string]string{
		"weights.bin":       strings.Repeat(fmt.Sprint(a.Epoch), 4096),
		"meta/config.json":  `{"layers": 3}`,
		"meta/epoch.txt":    fmt.Sprint(a.Epoch),
		"meta/deep/log.txt": "trained\n",
	}
	for rel, body := range files {
		p := filepath.Join(a.Dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(filepath.Join(a.Dir, "meta/epoch.txt"), 0o600); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(a.Dir, "empty"), 0o750); err != nil {
		return "", err
	}
	return fmt.Sprintf("epoch %d", a.Epoch), nil
}

// treeOf describes the tree at dir: every file with its mode and bytes,
// every directory with its mode.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", filepath.ToSlash(rel), fi.Mode())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %q", b)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestOutDirectory: an out argument may name a directory the function
// creates and fills. Its tree (names, modes, bytes, empty directories) is
// stored and restored exactly to any other path, also after the first one
// was deleted; a path that holds it already is left untouched, one that
// differs (a changed file, an extra one) is replaced whole. The cache
// checks clean and gc keeps the tree's files; a copy of the cache and a
// second machine through the remote restore it too.
func TestOutDirectory(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	remote := "file://" + t.TempDir()
	var computed atomic.Int64
	fn := func(ctx context.Context, a checkpointArgs) (string, error) {
		computed.Add(1)
		return writeCheckpoint(ctx, a)
	}
	cacheDir := filepath.Join(base, "cache")
	s := openStore(t, cacheDir, pcache.Remote(remote))
	f := pcache.MustWrap(s, "ml/checkpoint", fn)

	first := filepath.Join(base, "run1", "ckpt")
	if got := mustCall(t, f, ctx, checkpointArgs{Epoch: 7, Dir: first}); got != "epoch 7" || computed.Load() != 1 {
		t.Fatalf("miss: %q, %d computed", got, computed.Load())
	}
	want := treeOf(t, first)
	if !strings.Contains(want, "empty d") || !strings.Contains(want, "meta/epoch.txt -rw-------") {
		t.Fatalf("the function's tree is not what the test means to store:\n%s", want)
	}
	if err := os.RemoveAll(filepath.Join(base, "run1")); err != nil {
		t.Fatal(err)
	}

	second := filepath.Join(base, "run2", "ckpt")
	for _, step := range []struct {
		name   string
		before func()
	}{
		{"a new path after the old one was deleted", func() {}},
		{"the same path, untouched", func() {}},
		{"a file changed and one added", func() {
			os.WriteFile(filepath.Join(second, "meta", "epoch.txt"), []byte("edited"), 0o600)
			os.WriteFile(filepath.Join(second, "stray.txt"), []byte("not the function's"), 0o644)
		}},
		{"a file and a directory removed", func() {
			os.RemoveAll(filepath.Join(second, "meta", "deep"))
			os.Remove(filepath.Join(second, "empty"))
		}},
	} {
		step.before()
		var mtime int64
		if fi, err := os.Stat(filepath.Join(second, "weights.bin")); err == nil {
			mtime = fi.ModTime().UnixNano()
		}
		got := mustCall(t, f, ctx, checkpointArgs{Epoch: 7, Dir: second})
		if got != "epoch 7" || computed.Load() != 1 {
			t.Fatalf("%s: %q, %d computed, want a hit", step.name, got, computed.Load())
		}
		if tree := treeOf(t, second); tree != want {
			t.Fatalf("%s: restored tree\n%s\nwant\n%s", step.name, tree, want)
		}
		if step.name == "the same path, untouched" {
			if fi, _ := os.Stat(filepath.Join(second, "weights.bin")); fi.ModTime().UnixNano() != mtime {
				t.Fatalf("%s: a tree that was already there was written again", step.name)
			}
		}
	}

	// Another epoch shares files with the first; the cache checks clean
	// and gc keeps what the entries name.
	mustCall(t, f, ctx, checkpointArgs{Epoch: 8, Dir: filepath.Join(base, "run3")})
	if rep, err := s.Check(ctx, pcache.CheckOptions{}); err != nil || !rep.Clean {
		t.Fatalf("check: %+v, %v", rep, err)
	}
	if _, err := s.GC(ctx, pcache.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	third := filepath.Join(base, "run4")
	mustCall(t, f, ctx, checkpointArgs{Epoch: 7, Dir: third})
	if computed.Load() != 2 || treeOf(t, third) != want {
		t.Fatalf("after gc: %d computed, tree\n%s", computed.Load(), treeOf(t, third))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	restoredElsewhere(t, base, cacheDir, remote, fn, want, &computed)

}

// restoredElsewhere checks that a copy of the cache (as rsync makes) and
// another machine sharing the remote restore the tree of epoch 7 without
// computing (the test computed twice before).
func restoredElsewhere(t *testing.T, base, cacheDir, remote string, fn func(context.Context, checkpointArgs) (string, error), want string, computed *atomic.Int64) {
	t.Helper()
	ctx := context.Background()
	copied := filepath.Join(base, "copy")
	if err := os.CopyFS(copied, os.DirFS(cacheDir)); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]pcache.StoreOption{
		"a copy of the cache":          {pcache.Remote("")},
		"a machine sharing the remote": {pcache.Remote(remote)},
	} {
		dir := copied
		if name == "a machine sharing the remote" {
			dir = filepath.Join(base, "other-machine")
		}
		o := openStore(t, dir, opts...)
		g := pcache.MustWrap(o, "ml/checkpoint", fn)
		out := filepath.Join(base, strings.ReplaceAll(name, " ", "-"))
		if got := mustCall(t, g, ctx, checkpointArgs{Epoch: 7, Dir: out}); got != "epoch 7" || computed.Load() != 2 {
			t.Fatalf("%s: %q, %d computed, want a hit", name, got, computed.Load())
		}
		if tree := treeOf(t, out); tree != want {
			t.Fatalf("%s: restored tree\n%s\nwant\n%s", name, tree, want)
		}
	}
}

// TestOutDirectoryNotCachable: a directory holding a symbolic link (whose
// meaning would not survive a copy) is not cached; the call's result is
// returned all the same and the next call computes again.
func TestOutDirectoryNotCachable(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	var computed atomic.Int64
	f := pcache.MustWrap(s, "ml/linked", func(_ context.Context, a checkpointArgs) (int, error) {
		computed.Add(1)
		if err := os.MkdirAll(a.Dir, 0o755); err != nil {
			return 0, err
		}
		return 42, os.Symlink("/etc/passwd", filepath.Join(a.Dir, "link"))
	})
	for i := range 2 {
		dir := filepath.Join(t.TempDir(), "out")
		if got := mustCall(t, f, ctx, checkpointArgs{Dir: dir}); got != 42 || computed.Load() != int64(i+1) {
			t.Fatalf("call %d: %d, %d computed", i, got, computed.Load())
		}
	}
	if st := s.Stats(); st.StoreErrors != 2 || st.Stores != 0 {
		t.Fatalf("stats: %+v, want two results not stored", st)
	}
}
