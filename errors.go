package pcache

import (
	"errors"

	"github.com/pcache/pcache/internal/engine"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/remote"
)

// The errors callers test for (with errors.Is; every error of this package
// that is about one of these wraps it).
var (
	// ErrCacheMiss is returned (wrapped; test with errors.Is) by a call that
	// misses under ErrorOnMiss.
	ErrCacheMiss = errors.New("pcache: cache miss")
	// ErrClosed is returned by cache operations on a closed Store (and by
	// calls on one, under ReturnStoreErrors; otherwise they compute).
	ErrClosed = engine.ErrClosed
	// ErrNotCache is returned (wrapped) by Open for a directory that holds
	// files but is not a pcache cache, so a mistyped path never turns a
	// home directory into a cache.
	ErrNotCache = layout.ErrNotCache
	// ErrReadOnly is returned (wrapped) under ReturnStoreErrors when a
	// result is not stored because the Store is read-only.
	ErrReadOnly = engine.ErrReadOnly
	// ErrConfig is returned (wrapped) by Open, Default and the
	// memoizers that return errors when the environment asks for something
	// pcache does not know: an unknown $PCACHE_MODE. A mistyped mode must
	// not quietly turn into another (a CI job meant to fail on any miss
	// would pass), so nothing is cached or computed until it is fixed.
	ErrConfig = errors.New("pcache: configuration error")
	// ErrBadName is returned (wrapped) by Wrap for a function name that
	// breaks the name rule (see Wrap).
	ErrBadName = layout.ErrBadName
	// ErrVerifyMismatch is wrapped by the error of a call whose recomputed
	// result differs from the stored one under ModeVerify.
	ErrVerifyMismatch = errors.New("pcache: recomputed result differs from the stored one")
)

// The errors of the remote tier. A RemoteStorage wraps the first five in
// its errors, so that the tier can tell what happened; Open's error wraps
// ErrRemoteNotLinked for an s3:// remote in a program without the S3
// backend.
var (
	// ErrRemoteNotExist: the key is not there.
	ErrRemoteNotExist = remote.ErrNotExist
	// ErrRemoteExists: a create-only put found the key there already.
	ErrRemoteExists = remote.ErrExists
	// ErrRemoteNoBucket: the bucket (or shared directory) does not exist.
	ErrRemoteNoBucket = remote.ErrNoBucket
	// ErrRemoteDenied: the server refused the credentials (the message
	// names the access key id, never the secret).
	ErrRemoteDenied = remote.ErrDenied
	// ErrRemoteTooLarge: the server refused a put for the object's size.
	ErrRemoteTooLarge = remote.ErrTooLarge
	// ErrRemoteNotLinked: no backend for the URL's scheme is linked into
	// the program (for s3://: import _ "github.com/pcache/pcache/remote/s3").
	ErrRemoteNotLinked = remote.ErrNoBackend
)

// UnpublishedError is the error of Store.Close (and pcache.Close) when
// records were left unpublished to the remote: they stay in this cache's
// outbox, and the next Open of the cache publishes them.
type UnpublishedError struct {
	Remote  string // the remote, without secrets
	Entries int    // entries and tombstones left
	Uses    int    // records of uses of entries left
	Reason  string // why: out of time, or the remote's last failure
}

func (e *UnpublishedError) Error() string {
	r := remote.UnpublishedError(*e)
	return r.Error()
}

// unpublished turns the remote tier's error of that kind into the root's.
func unpublished(err error) error {
	var ue *remote.UnpublishedError
	if !errors.As(err, &ue) {
		return err
	}
	return (*UnpublishedError)(ue)
}

// errorf formats an error of this package (format without the "pcache: "
// prefix, which the message gets once, however deep the causes it wraps).
func errorf(format string, args ...any) error { return engine.Errorf(format, args...) }
