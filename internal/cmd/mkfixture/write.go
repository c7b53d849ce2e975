package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/fixture"
)

const tombstoned = fixture.Tombstoned

// write stores every fixture entry in a new cache at dir; out files are
// written under work.
func write(dir, work string) error {
	s, err := pcache.Open(dir)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()

	square := pcache.MustWrap(s, fixture.Square, func(_ context.Context, a fixture.SquareArgs) (int, error) {
		return fixture.SquareOf(a), nil
	})
	for x := 0; x < fixture.SquareN; x++ {
		if _, err := square.Call(ctx, fixture.SquareArgs{X: x}); err != nil {
			return err
		}
	}
	record := pcache.MustWrap(s, fixture.Record, func(_ context.Context, a fixture.RecordArgs) (fixture.Result, error) {
		return fixture.RecordOf(a), nil
	}, pcache.Version(fixture.Version))
	for i := 0; i < fixture.RecordN; i++ {
		if _, err := record.Call(ctx, fixture.RecordArgsOf(i)); err != nil {
			return err
		}
	}
	bytesFn := pcache.MustWrap(s, fixture.Bytes, func(_ context.Context, a string) ([]byte, error) {
		return fixture.BytesOf(a), nil
	})
	for i := 0; i < fixture.BytesN; i++ {
		if _, err := bytesFn.Call(ctx, fixture.BytesArg(i)); err != nil {
			return err
		}
	}
	out := pcache.MustWrap(s, fixture.Out, func(_ context.Context, a fixture.OutArgs) (string, error) {
		return fixture.OutResult(a.Seed), os.WriteFile(a.Path, []byte(fixture.OutContent(a.Seed)), 0o644)
	})
	for i := 0; i < fixture.OutN; i++ {
		p := filepath.Join(work, fmt.Sprintf("out-%d.txt", i))
		if _, err := out.Call(ctx, fixture.OutArgs{Seed: i, Path: p}); err != nil {
			return err
		}
	}
	batch := pcache.MustWrapBatch(s, fixture.Batch, func(_ context.Context, xs []int) ([]string, error) {
		r := make([]string, len(xs))
		for i, x := range xs {
			r[i] = fixture.BatchOf(x)
		}
		return r, nil
	})
	for lo := 0; lo < fixture.BatchN; lo += 10 {
		xs := make([]int, 10)
		for i := range xs {
			xs[i] = lo + i
		}
		if _, err := batch.Call(ctx, xs); err != nil {
			return err
		}
	}
	many := pcache.MustWrap(s, fixture.Many, func(_ context.Context, x int) (int, error) {
		return fixture.ManyOf(x), nil
	})
	for x := 0; x < fixture.ManyN; x++ {
		if _, err := many.Call(ctx, x); err != nil {
			return err
		}
	}
	mapFn := pcache.MustWrap(s, fixture.Map, func(_ context.Context, a string) (map[string]int, error) {
		return fixture.MapOf(a), nil
	})
	for i := 0; i < fixture.MapN; i++ {
		if _, err := mapFn.Call(ctx, fixture.MapArg(i)); err != nil {
			return err
		}
	}
	text := pcache.MustWrap(s, fixture.Text, func(_ context.Context, x int) (string, error) {
		return fixture.TextOf(x), nil
	}, pcache.Compress(0))
	for x := 0; x < fixture.TextN; x++ {
		if _, err := text.Call(ctx, x); err != nil {
			return err
		}
	}
	return nil
}

// squareKey is the key hash of fixture.Square's call with X = x, as
// pcache-fsck rm -key takes it: Func.Key. (The release that wrote
// cache-v1 keyed entries by the arguments alone; its mkfixture took the
// hash from keying.Plan.Key.)
func squareKey(dir string, x int) (string, error) {
	s, err := pcache.Open(dir)
	if err != nil {
		return "", err
	}
	defer s.Close()
	square, err := pcache.Wrap(s, fixture.Square, func(_ context.Context, a fixture.SquareArgs) (int, error) {
		return fixture.SquareOf(a), nil
	})
	if err != nil {
		return "", err
	}
	return square.Key(fixture.SquareArgs{X: x})
}
