// Package remote is pcache's shared second tier: a bucket of S3-compatible
// object storage, or a shared directory, that many machines' caches read and write as one.
//
// A Backend is the little the tier needs of a storage service: get, a put
// that can be create-only, head, list and delete, on keys under one prefix.
// OpenBackend understands file:///PATH, and the schemes of the backends
// linked into the program (registry.go): s3://BUCKET/PREFIX once the
// program imports package github.com/pcache/pcache/remote/s3, as a
// database/sql driver is imported. The Tier (tier.go)
// keeps the local cache as the first level: local hits never wait for the
// network; a local miss looks the key up in the remote index, fetches and
// verifies its objects and records the entry locally; new entries are
// published in the background, objects before the records that name them.
//
// # Remote layout
//
//	<prefix>/pcache-remote.json            marker: format and version
//	<prefix>/objects/<64 hex>              objects, immutable, named by their BLAKE3-256
//	<prefix>/objects/<64 hex>.zst          objects stored compressed: a zstd frame of the object
//	                                       (uploaded by a cache that stores it so; records that
//	                                       name one say z, in segments of format 4)
//	<prefix>/fn/<32 hex>/segments/<name>   manifest segments (package manifest's format), content-named
//	<prefix>/fn/<32 hex>/log/<20 digits>   the function's log: entry n lists the segments published n-th
//	<prefix>/fn/<32 hex>/checkpoint/<20 digits>   the segments that hold every record up to log entry n
//	<prefix>/fn/<32 hex>/head              a hint: the newest checkpoint
//
// where <32 hex> is the first 16 bytes of the BLAKE3-256 of the function's
// name. Objects, segments, log entries and checkpoints are written
// create-only (If-None-Match: *) and never rewritten: a writer that finds
// its log number taken moves to the next one (the Delta Lake commit
// protocol), so nobody rewrites a shared index and a reader stays current
// with one GET of the next log number.
package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

var (
	// ErrNotExist is wrapped by errors about a key that is not there.
	ErrNotExist = errors.New("remote: not found")
	// ErrExists is wrapped by the error of a create-only put of a key that
	// is there already.
	ErrExists = errors.New("remote: already exists")
	// ErrNoBucket is wrapped by errors about a bucket (or shared directory)
	// that does not exist: nothing can be read or written until it does.
	ErrNoBucket = errors.New("remote: the bucket does not exist")
	// ErrDenied is wrapped by errors of requests the server refused for
	// the credentials (unknown access key, wrong secret, no permission):
	// the message names the access key id, never the secret.
	ErrDenied = errors.New("remote: access denied")
	// ErrTooLarge is wrapped by the error of a put the server refused for
	// the object's size.
	ErrTooLarge = errors.New("remote: object too large for the server")
)

// Backend is a flat store of byte blobs under keys (slash-separated paths
// relative to the backend's prefix). Implementations are safe for
// concurrent use.
type Backend interface {
	// Get opens the blob at key; ErrNotExist if absent. A body whose
	// length is known before it is read (a file's size, a Content-Length)
	// has a method Size() int64 returning it (-1: not known), which lets
	// the tier refuse an oversized blob before reading it.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Put stores size bytes from r at key. With createOnly it fails with
	// ErrExists when key is there, and never replaces it.
	Put(ctx context.Context, key string, r io.Reader, size int64, createOnly bool) error
	// Head returns the size and last modification of the blob at key;
	// ErrNotExist if absent.
	Head(ctx context.Context, key string) (size int64, modified time.Time, err error)
	// List calls fn for every key under prefix, in lexicographic order.
	List(ctx context.Context, prefix string, fn func(key string, size int64, modified time.Time) error) error
	// Delete removes the blob at key; an absent one is not an error.
	Delete(ctx context.Context, key string) error
	// String names the backend for messages (its URL, without secrets).
	String() string
}

// MaxListKeys bounds the keys one listing returns, in every backend: a
// server that answers every page with "there is more" (or a directory with
// no end of names) would otherwise keep maintenance listing, and holding
// names, for ever. 16 Mi keys is a bucket of some millions of entries.
const MaxListKeys = 16 << 20

// ErrTooManyKeys is a List's error past MaxListKeys keys.
var ErrTooManyKeys = fmt.Errorf("remote: more than %d keys in one listing; refusing to go on", MaxListKeys)

// sized is what a body whose length the backend knows before reading it
// offers (a file's size, an HTTP Content-Length): getAll refuses a blob
// larger than its limit before allocating anything for it.
type sized interface{ Size() int64 }

// getAll reads the whole blob at key, refusing one larger than limit: a
// body that says it is larger is refused before a byte is read, and one
// that does not say is read through a limit.
func getAll(ctx context.Context, b Backend, key string, limit int64) ([]byte, error) {
	r, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	hint := int64(-1)
	if s, ok := r.(sized); ok {
		if hint = s.Size(); hint > limit {
			return nil, fmt.Errorf("remote: get %s: %d bytes, larger than the %d such a file may have", key, hint, limit)
		}
	}
	data, err := readLimited(r, limit, hint)
	if err != nil {
		return nil, fmt.Errorf("remote: get %s: %w", key, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("remote: get %s: larger than the %d bytes such a file may have", key, limit)
	}
	return data, nil
}

// readLimited reads r to its end, but at most limit+1 bytes (a result
// longer than limit says r holds more), into a buffer of hint+1 bytes when
// the size is known (hint >= 0), grown as io.ReadAll does when it is not
// or was wrong (doubling, so at most twice limit is allocated in all).
func readLimited(r io.Reader, limit, hint int64) ([]byte, error) {
	c := int64(512)
	if hint >= 0 {
		c = min(hint, limit) + 1
	}
	buf := make([]byte, 0, c)
	lr := io.LimitReader(r, limit+1)
	for {
		if len(buf) == cap(buf) {
			// Double, up to limit+1: at most twice the bound is ever
			// allocated (append's 1.25x steps would add up to five times).
			nb := make([]byte, len(buf), min(2*int64(cap(buf)), limit+1))
			copy(nb, buf)
			buf = nb
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// readRegular reads a file of this cache's remote state (see openRegular):
// a regular file, not a link, of at most limit bytes.
func readRegular(path string, limit int64) ([]byte, error) {
	f, fi, err := openRegular(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := readLimited(f, limit, fi.Size())
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s: grew past %d bytes", path, limit)
	}
	return data, err
}

// putBytes stores b at key.
func putBytes(ctx context.Context, be Backend, key string, b []byte, createOnly bool) error {
	return be.Put(ctx, key, bytes.NewReader(b), int64(len(b)), createOnly)
}
