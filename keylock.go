package pcache

import (
	"context"
	"os"
	"path/filepath"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/internal/lockfile"
	"github.com/zeebo/blake3"
)

// rangeLocksOff makes lockKey use flock files even where byte-range locks
// work (tests of the portable path).
var rangeLocksOff bool

// keyLockID names the cross-process lock of one key of one function: the
// BLAKE3-256 of the function name and the key hash.
func (c *core) keyLockID(h [32]byte) cas.ID {
	hs := blake3.New()
	hs.WriteString(c.name)
	hs.Write([]byte{0})
	hs.Write(h[:])
	return cas.ID(hs.Sum(nil))
}

// lockKey takes the cross-process lock of key h, waiting while another
// process computes it (until ctx is done). The returned unlock must be
// called once, saying whether the key's entry was committed.
//
// Where the platform has open-file-description byte-range locks (Linux), the
// lock is one byte of <dir>/locks/keys.ofd chosen by the key: no file is
// created per miss. Elsewhere (or if the file system refuses them) it is a
// flock on <dir>/locks/keys/ab/<id>.lock, created on demand and removed after
// a commit. Either lock is released by the OS when its holder dies.
func (c *core) lockKey(ctx context.Context, h [32]byte) (unlock func(committed bool), err error) {
	id := c.keyLockID(h)
	if !rangeLocksOff {
		if unlock, ok, err := lockRange(ctx, filepath.Join(c.s.dir, "locks", "keys.ofd"), id); ok || err != nil {
			return unlock, err
		}
	}
	x := id.String()
	path := filepath.Join(c.s.dir, "locks", "keys", x[:2], x[2:]+".lock")
	fl, err := lockfile.Lock(ctx, path, false)
	if err != nil {
		return nil, err
	}
	return func(committed bool) {
		if committed {
			// Anyone who takes this lock from now on finds the entry, so the
			// lock file can go. (Never delete it before the commit.)
			os.Remove(path)
		}
		fl.Unlock()
	}, nil
}
