package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/outfile"
)

// bigResults stores and hits cfg.big-byte []byte results through the public
// API (raw codec: the object is the bytes) against a plain write or read of
// the same bytes plus raw BLAKE3.
func (b *bench) bigResults(ctx context.Context) error {
	dir, err := b.subdir("big")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	cache := filepath.Join(dir, "cache")
	s, err := pcache.Open(cache)
	if err != nil {
		return err
	}
	defer s.Close()
	objects, err := cas.Open(layout.New(cache), cas.Options{}) // to drop each stored object again
	if err != nil {
		return err
	}
	data := patternBytes(b.cfg.big, 7)
	f, err := pcache.Wrap(s, "bench/big", func(_ context.Context, i int) ([]byte, error) {
		binary.LittleEndian.PutUint64(data, uint64(i)) // a new object for every key
		return data, nil
	})
	if err != nil {
		return err
	}
	if _, err := f.Call(ctx, 0); err != nil { // the entry the hits read
		return err
	}
	hitID := cas.Sum(data)
	n := 0
	store := func() (float64, error) {
		n++
		ns, err := timed(func() error {
			_, err := f.Call(ctx, n)
			return err
		})
		if err == nil {
			if id := cas.Sum(data); id != hitID {
				err = objects.Delete(id) // keep the disk use bounded
			}
		}
		return ns, err
	}
	hit := func() (float64, error) {
		return timed(func() error {
			r, err := f.Call(pcache.ErrorOnMiss(ctx), 0)
			if err == nil && len(r) != len(data) {
				err = fmt.Errorf("hit returned %d bytes, want %d", len(r), len(data))
			}
			return err
		})
	}
	floorR, err := floorReadBig(dir, data)
	if err != nil {
		return err
	}
	best, err := interleave(ctx, b.cfg.bigRounds, floorWriteBig(dir, data), store, floorR, hit)
	if err != nil {
		return err
	}
	sz := sizeName(b.cfg.big)
	b.add(Row{ID: "store-big", Scenario: "store a " + sz + " []byte result (miss)", Unit: unitNs, Result: best[1],
		Floor: "raw BLAKE3 + plain file write", FloorValue: best[0], Target: &Target{"ratio", "<=", 1.5, "issue 9"},
		Note: gbps(b.cfg.big, best[1])})
	b.add(Row{ID: "hit-big", Scenario: "hit a " + sz + " []byte result, verified", Unit: unitNs, Result: best[3],
		Floor: "plain file read + raw BLAKE3", FloorValue: best[2], Target: &Target{"ratio", "<=", 1.5, "issue 9"},
		Note: gbps(b.cfg.big, best[3])})
	return nil
}

func gbps(bytes int, ns float64) string { return fmt.Sprintf("%.2f GB/s", float64(bytes)/ns) }

// stableHash measures StableHash of a []float64 of cfg.big bytes against raw
// BLAKE3 of as many bytes.
func (b *bench) stableHash(ctx context.Context) error {
	floats := make([]float64, b.cfg.big/8)
	for i := range floats {
		floats[i] = float64(i) * 0.5
	}
	raw := patternBytes(len(floats)*8, 3)
	sh := func() (float64, error) {
		return timed(func() error {
			_, err := keying.StableHash(floats)
			return err
		})
	}
	// Cheap enough for more rounds than the other big probes.
	best, err := interleave(ctx, b.cfg.bigRounds+2, floorBlake3(raw), sh)
	if err != nil {
		return err
	}
	bytes := float64(len(raw))
	b.add(Row{ID: "stablehash", Scenario: fmt.Sprintf("StableHash of %s float64s (%s)", countNameBin(len(floats)), sizeName(len(raw))),
		Unit: unitBps, Result: bytes / best[1] * 1e9, Floor: "raw BLAKE3, one core", FloorValue: bytes / best[0] * 1e9,
		Target: &Target{"value", ">=", 1e9, "issue 2/5"}})
	return nil
}

// countNameBin renders 32<<20 as "32 Mi".
func countNameBin(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d Mi", n>>20)
	}
	return fmt.Sprint(n)
}

// outFiles measures out-file capture (a file the function wrote, streamed
// into the store) and restore (to a new path, verified) of cfg.big bytes.
func (b *bench) outFiles(ctx context.Context) error {
	dir, err := b.subdir("outfile")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	st, err := cas.Open(layout.New(filepath.Join(dir, "cache")), cas.Options{})
	if err != nil {
		return err
	}
	src := filepath.Join(dir, "src")       // captured again and again
	stored := filepath.Join(dir, "stored") // captured once, restored again and again
	if err := os.WriteFile(src, patternBytes(b.cfg.big, 9), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(stored, patternBytes(b.cfg.big, 10), 0o644); err != nil {
		return err
	}
	rec, err := outfile.Capture(st, "Out", stored)
	if err != nil {
		return err
	}
	capture := func() (float64, error) {
		var id cas.ID
		ns, err := timed(func() error {
			r, err := outfile.Capture(st, "Out", src)
			id = r.Object
			return err
		})
		if err == nil {
			err = st.Delete(id) // so the next capture stores it anew
		}
		return ns, err
	}
	dst := filepath.Join(dir, "restored")
	restore := func() (float64, error) {
		os.Remove(dst)
		ns, err := timed(func() error {
			_, _, err := outfile.Restore(st, rec, dst, nil)
			return err
		})
		os.Remove(dst)
		return ns, err
	}
	best, err := interleave(ctx, b.cfg.bigRounds, floorHashedCopy(dir, src), capture, restore)
	if err != nil {
		return err
	}
	sz := sizeName(b.cfg.big)
	b.add(Row{ID: "outfile-capture", Scenario: "out-file capture, " + sz + " (into the store)", Unit: unitNs, Result: best[1],
		Floor: "file copy through a 1 MiB buffer + BLAKE3", FloorValue: best[0], Target: &Target{"ratio", "<=", 1.5, "ours, as for results"},
		Note: gbps(b.cfg.big, best[1])})
	b.add(Row{ID: "outfile-restore", Scenario: "out-file restore, " + sz + " (to a new path, verified)", Unit: unitNs, Result: best[2],
		Floor: "file copy through a 1 MiB buffer + BLAKE3", FloorValue: best[0], Target: &Target{"ratio", "<=", 1.5, "ours, as for results"},
		Note: gbps(b.cfg.big, best[2])})
	return nil
}
