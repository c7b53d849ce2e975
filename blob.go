package pcache

import (
	"context"
	"io"
	"os"
	"reflect"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/engine"
	"github.com/zeebo/blake3"
)

// Blob is a result too large to hold in memory (a dataset, a model, a
// rendered video): the function writes it with WriteBlob, the cache keeps
// it as one object of its own (hashed as it is written, verified as a
// stream on every hit, carried by rsync and the remote like any object, of
// any size), and callers read it from there with Open, never loading it
// whole. A function whose result type is Blob is wrapped with Wrap (or
// the memoizers); WrapBatch refuses it.
type Blob struct {
	size int64
	id   cas.ID // zero: not known (written outside a call)
	w    *cas.Writer
	path string // written outside a call: its temp file
	fn   *engine.Fn
}

type blobKey struct{}

// WriteBlob makes a Blob of what write writes. Called with the context a
// wrapped function receives, it writes straight into the cache's object
// store (one pass, no copy); elsewhere into a temp file, which the cache
// copies in when the function returns. The Blob a call returns is the
// stored object; when the cache cannot store it (ModeOff, a read-only
// cache, a failure), the call returns the temp file's Blob all the same.
func WriteBlob(ctx context.Context, write func(w io.Writer) error) (Blob, error) {
	if c, ok := ctx.Value(blobKey{}).(*engine.Fn); ok {
		if w, err := c.CreateObject(); err == nil {
			if err := write(w); err != nil {
				w.Abort()
				return Blob{}, err
			}
			id, n, err := w.Finish()
			if err != nil {
				w.Abort()
				return Blob{}, errorf("write blob: %w", err)
			}
			return Blob{size: n, id: id, w: w, fn: c}, nil
		}
	}
	f, err := os.CreateTemp("", "pcache-blob-")
	if err != nil {
		return Blob{}, errorf("write blob: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return Blob{}, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		os.Remove(f.Name())
		return Blob{}, errorf("write blob: %w", err)
	}
	return Blob{size: fi.Size(), path: f.Name()}, nil
}

// Size returns the Blob's length in bytes.
func (b Blob) Size() int64 { return b.size }

// Open opens the Blob for reading. What it returns also implements
// io.ReaderAt (read any part without the rest: a column of a table, a
// frame of a video); close it when done.
func (b Blob) Open() (io.ReadSeekCloser, error) {
	var (
		r   io.ReadSeekCloser
		err error
	)
	switch {
	case b.w != nil && b.w.Name() != "":
		r, err = os.Open(b.w.Name()) // not stored (yet)
	case b.fn != nil:
		r, err = b.fn.OpenObject(b.id)
	case b.path != "":
		r, err = os.Open(b.path)
	default:
		return nil, errorf("open blob: the zero Blob holds nothing")
	}
	if err != nil {
		return nil, errorf("open blob: %w", err)
	}
	return r, nil
}

// storedBlob is the Blob of stored object id of function c.
func storedBlob(c *engine.Fn, id cas.ID, size int64) Blob {
	return Blob{size: size, id: id, fn: c}
}

// blobObject returns a writer holding blob b's bytes, ready to commit: the
// one WriteBlob wrote into the store, or a copy of a Blob written outside
// a call.
func blobObject(c *engine.Fn, b Blob) (*cas.Writer, error) {
	if b.w != nil && b.w.Name() != "" {
		return b.w, nil
	}
	r, err := b.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	w, err := c.CreateObject()
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return nil, err
	}
	return w, nil
}

// isBlob reports whether R is Blob.
func isBlob[R any]() bool { return reflect.TypeFor[R]() == reflect.TypeFor[Blob]() }

// storeBlob commits a Blob result b: the object WriteBlob wrote (or a
// copy of one written outside a call) becomes the entry's result, and the
// call returns the stored object's Blob. A Blob that cannot be stored is
// returned as it is.
func (u *untyped) storeBlob(ctx context.Context, k *engine.CallKey, x result, b Blob, prev int64) (int64, bool, error) {
	c := u.c
	x.Set(b)
	if k.NoWrite {
		return b.size, false, nil
	}
	w, err := blobObject(c, b)
	if err != nil {
		return b.size, false, c.StoreFailed(k, errorf("store blob: %w", err))
	}
	if err := c.Commit(ctx, []engine.Pending{{Key: k, Object: w, Prev: prev}}); err != nil {
		return u.committed(k, x, b.size, err)
	}
	id, n, _ := w.Finish()
	if b.path != "" {
		os.Remove(b.path) // copied in: the temp file outside the cache is ours to remove
	}
	x.Set(storedBlob(c, id, n))
	return n, true, nil
}

// blobID returns the object ID of b's bytes.
func blobID(b Blob) (cas.ID, error) {
	if !b.id.IsZero() {
		return b.id, nil
	}
	r, err := b.Open()
	if err != nil {
		return cas.ID{}, err
	}
	defer r.Close()
	h := blake3.New()
	if _, err := io.Copy(h, r); err != nil {
		return cas.ID{}, errorf("hash blob: %w", err)
	}
	var id cas.ID
	h.Sum(id[:0])
	return id, nil
}

// verifyBlob compares a recomputed Blob b (ModeVerify) with the stored
// one by their hashes. The recomputed object is not kept, but for a Blob
// written outside the store that differs: the memoizers return it, the
// new truth, and its temp file is the caller's as any such Blob's is.
func (u *untyped) verifyBlob(k *engine.CallKey, b Blob, fd *engine.Found, info *CallInfo) error {
	c := u.c
	info.Bytes = b.size
	id, err := blobID(b)
	if b.w != nil {
		b.w.Abort()
	}
	differs := err == nil && (id != fd.E.Result || b.size != fd.E.Size)
	if differs {
		c.Count(engine.StatMismatches)
		err = errorf("%s: key %x: the result (stored: %d bytes, recomputed: %d bytes) differs: %w", c.Name(), k.Hash[:6], fd.E.Size, b.size, ErrVerifyMismatch)
	}
	if b.path != "" && !differs {
		os.Remove(b.path)
	}
	return err
}
