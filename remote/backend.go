// Package remote is pcache's shared second tier: a bucket of S3-compatible
// object storage, or a shared directory, that many machines' caches read and write as one.
//
// A Backend is the little the tier needs of a storage service: get, a put
// that can be create-only, head, list and delete, on keys under one prefix.
// OpenBackend understands s3://BUCKET/PREFIX (endpoint and credentials come
// only from the standard AWS variables) and file:///PATH. The Tier (tier.go)
// keeps the local cache as the first level: local hits never wait for the
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
	"bytes"
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
// Credentials never go in the URL (they come from the standard AWS
// variables): a URL with a user or password is refused, and no error
// repeats it.
func OpenBackend(ctx context.Context, rawURL string) (Backend, error) {
	shown := RedactURL(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("remote: %q: not a URL", shown)
	}
	if u.User != nil {
		return nil, fmt.Errorf("remote: %q: credentials do not go in the URL (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)", shown)
	}
	switch u.Scheme {
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("remote: %q: no bucket (want s3://BUCKET/PREFIX)", shown)
		}
		return newS3(ctx, u.Host, strings.Trim(u.Path, "/"))
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("remote: %q: a file URL names a local path (file:///PATH)", shown)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("remote: %q: no path", shown)
		}
		return NewFileBackend(u.Path)
	case "":
		return nil, fmt.Errorf("remote: %q: want s3://BUCKET/PREFIX or file:///PATH", shown)
	default:
		return nil, fmt.Errorf("remote: %q: unsupported scheme %q (want s3 or file)", shown, u.Scheme)
	}
}

// RedactURL returns rawURL with whatever stands between "//" and the last
// "@" of its authority (a user, a password, an access key and its secret)
// replaced by "REDACTED", for messages; it works on text that does not
// parse as a URL too.
func RedactURL(rawURL string) string {
	_, rest, ok := strings.Cut(rawURL, "//")
	if !ok {
		// No authority; but a "user:secret@" may still hide in it.
		if i := strings.LastIndex(rawURL, "@"); i >= 0 {
			return "REDACTED" + rawURL[i:]
		}
		return rawURL
	}
	head := rawURL[:len(rawURL)-len(rest)]
	auth, path := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth, path = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(auth, "@"); i >= 0 {
		auth = "REDACTED" + auth[i:]
	}
	return head + auth + path
}

// maxListKeys bounds the keys one listing returns: a server that answers
// every page with "there is more" (or a directory with no end of names)
// would otherwise keep maintenance listing, and holding names, for ever.
// 16 Mi keys is a bucket of some millions of entries.
const maxListKeys = 16 << 20

var errTooManyKeys = fmt.Errorf("remote: more than %d keys in one listing; refusing to go on", maxListKeys)

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
