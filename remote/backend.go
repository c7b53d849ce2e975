// Package remote is pcache's shared second tier: a bucket of S3-compatible
// object storage, or a shared directory, that many machines' caches read and write as one.
//
// A Backend is the little the tier needs of a storage service: get, a put
// that can be create-only, head, list and delete, on keys under one prefix.
// OpenBackend understands s3://BUCKET/PREFIX (endpoint and credentials come
// only from the standard AWS variables) and file:///PATH. The Tier (tier.go)
// keeps the local cache as the first level: local hits never touch the
// network; a local miss looks the key up in the remote index, fetches and
// verifies its objects and records the entry locally; new entries are
// published in the background, objects before the records that name them.
//
// # Remote layout
//
//	<prefix>/pcache-remote.json            marker: format and version
//	<prefix>/objects/<64 hex>              objects, immutable, named by their BLAKE3-256
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
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

var (
	// ErrNotExist is wrapped by errors about a key that is not there.
	ErrNotExist = errors.New("remote: not found")
	// ErrExists is wrapped by the error of a create-only put of a key that
	// is there already.
	ErrExists = errors.New("remote: already exists")
)

// Backend is a flat store of byte blobs under keys (slash-separated paths
// relative to the backend's prefix). Implementations are safe for
// concurrent use.
type Backend interface {
	// Get opens the blob at key; ErrNotExist if absent.
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

// OpenBackend returns the backend a URL names: s3://BUCKET[/PREFIX] or
// file:///PATH (a directory, such as an NFS mount, shared by the machines).
func OpenBackend(ctx context.Context, rawURL string) (Backend, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("remote: %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("remote: %q: no bucket (want s3://BUCKET/PREFIX)", rawURL)
		}
		return newS3(ctx, u.Host, strings.Trim(u.Path, "/"))
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("remote: %q: a file URL names a local path (file:///PATH)", rawURL)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("remote: %q: no path", rawURL)
		}
		return NewFileBackend(u.Path)
	case "":
		return nil, fmt.Errorf("remote: %q: want s3://BUCKET/PREFIX or file:///PATH", rawURL)
	default:
		return nil, fmt.Errorf("remote: %q: unsupported scheme %q (want s3 or file)", rawURL, u.Scheme)
	}
}

// getAll reads the whole blob at key, refusing one larger than limit.
func getAll(ctx context.Context, b Backend, key string, limit int64) ([]byte, error) {
	r, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("remote: get %s: %w", key, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("remote: get %s: larger than %d bytes", key, limit)
	}
	return data, nil
}

// putBytes stores b at key.
func putBytes(ctx context.Context, be Backend, key string, b []byte, createOnly bool) error {
	return be.Put(ctx, key, strings.NewReader(string(b)), int64(len(b)), createOnly)
}
