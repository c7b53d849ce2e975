package pcache

import (
	"fmt"

	"github.com/pcache/pcache/internal/cas"
)

// Compress stores the function's results compressed with zstd at level
// (zstd's scale: 1 is fastest, 22 smallest; 0 means zstd's default, 3),
// for results that compress well: JSON and other text, CBOR of records,
// numbers with structure. Each result is sampled first, and one that does
// not get at least 1/8 smaller (random or already compressed data) is
// stored raw at once; results small enough to live in packs (below 64
// KiB), and out files, are stored raw. Hits decode into the result's memory as
// they read, verified against the same ID as ever: an object's ID is the
// BLAKE3 of its uncompressed bytes however it is stored, so entries,
// keys, dedup with raw copies and pcache-fsck cat-object stay as they
// were. A remote gets the compressed bytes.
//
// The first compressed object raises the cache's layout version to 2
// (pcache.json), which releases before this option refuse to open or
// maintain; a cache no function compresses keeps layout 1. The level
// changes only how hard results are compressed (this package maps zstd's
// levels onto four encoder speeds), never what a hit reads.
func Compress(level int) Option {
	return func(o *funcOptions) error {
		if level < 0 || level > int(cas.MaxCompression) {
			return fmt.Errorf("Compress(%d): want a zstd level from 1 to %d, or 0 for the default", level, cas.MaxCompression)
		}
		if o.compress != 0 {
			return fmt.Errorf("Compress given twice (levels %d and %d)", o.compress, level)
		}
		if level == 0 {
			level = int(cas.DefaultCompression)
		}
		o.compress = level
		return nil
	}
}
