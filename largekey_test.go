package pcache_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// fileArgs is keyed by a file's contents, as a build step's or a parser's
// cached call is.
type fileArgs struct {
	Name string
	Src  []byte
}

// TestLargeArgumentsKeepOnlyTheirHash: arguments that encode to more than
// 4 KiB are keyed by their hash alone, so an entry's record does not carry
// them (a miss writes its result and a small record, not a copy of the
// file it was keyed by), while small arguments are kept for Explain.
func TestLargeArgumentsKeepOnlyTheirHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	f := pcache.MustWrap(s, "parse/file", func(_ context.Context, a fileArgs) (int, error) { return bytes.Count(a.Src, []byte("\n")), nil })
	const files, size = 50, 12 << 10
	src := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26), '\n'}, size/2) }
	for i := range files {
		if got := mustCall(t, f, ctx, fileArgs{Name: "f" + string(rune('A'+i)), Src: src(i)}); got != size/2 {
			t.Fatalf("file %d: %d lines", i, got)
		}
	}
	for i := range files {
		if _, err := f.Call(pcache.ErrorOnMiss(ctx), fileArgs{Name: "f" + string(rune('A'+i)), Src: src(i)}); err != nil {
			t.Fatalf("file %d again: %v", i, err)
		}
	}
	manifests := testutil.TreeSize(filepath.Join(dir, "manifests"))
	if per := manifests / files; per > 1<<10 {
		t.Fatalf("the manifests hold %d bytes for %d entries (%d each): the %d-byte arguments were recorded", manifests, files, per, size)
	}
	x, err := f.Explain(ctx, fileArgs{Name: "new", Src: src(99)})
	if err != nil {
		t.Fatal(err)
	}
	if x.Hit || !strings.Contains(x.Args, "more than 4 KiB") || !strings.Contains(x.Reason, "more than 4 KiB") {
		t.Fatalf("Explain of a large call: %+v", x)
	}
	x, err = f.Explain(ctx, fileArgs{Name: "small", Src: []byte("x\n")})
	if err != nil {
		t.Fatal(err)
	}
	if x.Hit || !strings.Contains(x.Args, "small") {
		t.Fatalf("Explain of a small call shows no arguments: %+v", x)
	}
}
