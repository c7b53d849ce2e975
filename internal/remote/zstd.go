package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pcache/pcache/internal/cas"
)

// Objects stored compressed travel compressed: a cache that keeps object
// id as objects/ab/<62 hex>.zst uploads that file's bytes (a zstd frame of
// the object, verified by decompressing it first) to objects/<id>.zst,
// and the records naming it say z. A fetch asks for the key the record
// suggests first and the other one after a 404, storing a compressed
// download compressed only if it decompresses to the object
// (cas.Store.PutCompressedExpect). Check, gc and repair treat either key
// as the object; -verify decompresses.

// uploadCompressed is upload of an object this cache stores compressed. A
// raw copy on the remote is as good: nothing is sent then. It reports
// false (and no error) when the compressed file is gone here.
func (p *publisher) uploadCompressed(id cas.ID, size int64) (bool, stored, error) {
	t := p.t
	for _, k := range []struct {
		key string
		how stored
	}{{objectKey(id), storedRaw}, {compressedKey(id), storedCompressed}} {
		var have int64
		err := t.request(p.ctx, "check an object", func(ctx context.Context) error {
			var err error
			have, _, err = t.b.Head(ctx, k.key)
			return err
		})
		if err != nil && !errors.Is(err, ErrNotExist) {
			return false, 0, err
		}
		if err != nil || t.suspected(id) {
			continue
		}
		if k.how == storedRaw && have != size {
			continue // a damaged raw copy: the compressed one is uploaded beside it
		}
		if k.how == storedRaw || have > 0 {
			return true, k.how, nil
		}
	}
	data, n, ok := p.localCompressed(id, size)
	if !ok {
		return false, 0, nil
	}
	key := compressedKey(id)
	put := func() error {
		return t.requestFor(p.ctx, "upload an object", n, func(ctx context.Context) error {
			if data != nil {
				return putError(t.b.Put(ctx, key, bytes.NewReader(data), n, true))
			}
			// Streamed from the file (verified just before; objects are
			// immutable, and a reader of the remote verifies again).
			f, fn, compressed, err := t.store.Stored(id)
			if err != nil || !compressed || fn != n {
				return localError{fmt.Errorf("remote: upload %s: the local file changed", key)}
			}
			defer f.Close()
			return putError(t.b.Put(ctx, key, f, n, true))
		})
	}
	err := put()
	if errors.Is(err, ErrExists) && t.suspected(id) {
		// There, and an entry naming it could not be served: check it,
		// replace it if it is damaged.
		damaged := false
		verr := t.requestFor(p.ctx, "verify an object", size, func(ctx context.Context) error {
			err := verifyCompressed(ctx, t.b, id, size)
			if errors.Is(err, errBadContent) {
				damaged, err = true, nil
			}
			return err
		})
		if verr != nil && !errors.Is(verr, ErrNotExist) {
			return false, 0, verr
		}
		t.cleared(id)
		if damaged || errors.Is(verr, ErrNotExist) {
			if err := t.request(p.ctx, "remove a damaged object", func(ctx context.Context) error { return t.b.Delete(ctx, key) }); err != nil {
				return false, 0, err
			}
			err = put()
			if err == nil {
				t.opts.Logger.Info("pcache: remote object was damaged; replaced with this cache's copy", "remote", t.b.String(), "key", key)
			}
		} else {
			err = nil
		}
	}
	switch {
	case err == nil, errors.Is(err, ErrExists):
		return true, storedCompressed, nil
	case errors.As(err, new(localError)):
		return false, 0, nil
	}
	return false, 0, err
}

// localCompressed checks that this cache's compressed file of object id
// decompresses to the object and returns its size, and its bytes when it
// is small enough to upload from memory (inMemoryUpload, so that a retry
// can send it again); ok false when it is gone or damaged here (its
// record cannot be published from here).
func (p *publisher) localCompressed(id cas.ID, size int64) (data []byte, n int64, ok bool) {
	f, n, compressed, err := p.t.store.Stored(id)
	if err != nil {
		return nil, 0, false
	}
	defer f.Close()
	if !compressed || n > size+size>>7+1<<10 {
		return nil, 0, false
	}
	var r io.Reader = f
	if n <= inMemoryUpload {
		data = make([]byte, n)
		if _, err := io.ReadFull(f, data); err != nil {
			return nil, 0, false
		}
		r = bytes.NewReader(data)
	}
	if got, m, err := hashCompressed(id, r, size); err != nil || got != id || m != size {
		return nil, 0, false
	}
	return data, n, true
}

// hashCompressed returns the ID of what the zstd frame r yields, which
// must be size bytes, and its count.
func hashCompressed(id cas.ID, r io.Reader, size int64) (cas.ID, int64, error) {
	n, got, err := cas.HashCompressed(id, "remote object", r, size)
	return got, n, err
}

// verifyCompressed downloads the compressed object id (declaring size
// bytes decompressed) and checks that it decompresses to the object:
// errBadContent if not.
func verifyCompressed(ctx context.Context, b Backend, id [32]byte, size int64) error {
	r, err := b.Get(ctx, compressedKey(id))
	if err != nil {
		return err
	}
	defer r.Close()
	return verifyCompressedStream(id, r, size)
}

// verifyCompressedStream checks that r is a zstd frame of object id, size
// bytes decompressed, and nothing more: errBadContent if not.
func verifyCompressedStream(id [32]byte, r io.Reader, size int64) error {
	body := &readErr{r: io.LimitReader(r, size+size>>7+1<<10+1)}
	got, _, err := hashCompressed(id, body, size)
	if body.err != nil && body.err != io.EOF {
		return fmt.Errorf("remote: get %s: %w", compressedKey(id), body.err)
	}
	if errors.Is(err, cas.ErrCorrupt) || err == nil && got != id {
		return errBadContent
	}
	if err != nil {
		return fmt.Errorf("remote: get %s: %w", compressedKey(id), err)
	}
	if m, _ := io.Copy(io.Discard, body); m > 0 {
		return errBadContent // bytes after the frame
	}
	return nil
}

// compressedDamaged checks the compressed object id on the remote again:
// whether it decompresses to the object, at the size its frame declares
// (no entry is at hand to say it).
func compressedDamaged(ctx context.Context, b Backend, id [32]byte) (bool, error) {
	r, err := b.Get(ctx, compressedKey(id))
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer r.Close()
	head := make([]byte, 18)
	n, _ := io.ReadFull(r, head)
	size, ok := cas.FrameContentSize(head[:n])
	if !ok {
		return true, nil
	}
	err = verifyCompressedStream(id, io.MultiReader(bytes.NewReader(head[:n]), r), size)
	if errors.Is(err, errBadContent) {
		return true, nil
	}
	return false, err
}
