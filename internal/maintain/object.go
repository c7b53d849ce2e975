package maintain

import (
	"encoding/hex"
	"fmt"
	"io"

	"github.com/pcache/pcache/internal/cas"
)

// CatObject writes the bytes of object id (64 hex digits), packed or
// loose, to w, verified: an object whose bytes do not hash to id is an
// error wrapping cas.ErrCorrupt. Objects up to 256 MiB are verified before
// anything is written; a larger one is streamed, and a mismatch found at
// its end is reported after its bytes went out. What it writes is what
// b3sum hashes to id. An id that is no object ID is an error wrapping
// ErrBadObjectID.
func (c *Cache) CatObject(id string, w io.Writer) (int64, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 32 {
		return 0, fmt.Errorf("object %q: %w", id, ErrBadObjectID)
	}
	oid := cas.ID(raw)
	if size, err := c.store.Size(oid); err == nil && size <= 256<<20 {
		b, err := c.store.Get(oid, size)
		if err != nil {
			return 0, err
		}
		n, err := w.Write(b)
		return int64(n), err
	}
	r, err := c.store.Open(oid)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(w, r)
}
