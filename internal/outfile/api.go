package outfile

import (
	"io"

	"github.com/pcache/pcache/internal/cas"
)

// Capture stores the out file of argument arg, written at the absolute path,
// in st and returns its record: object, size, permission bits and the path
// with the size and modification time it had. A missing or non-regular file
// is an error wrapping ErrMissing that names arg and path. A symbolic link is
// followed. If the file keeps changing while it is stored, Capture fails
// rather than record a hash that does not match the recorded size and time.
func Capture(st *cas.Store, arg, path string) (File, error) {
	return capture(st, arg, path)
}

// Restore makes the absolute path hold rec's contents and returns the
// updated record (path added or refreshed, at most MaxPaths kept) and whether
// it differs from rec, in which case the caller should store it. A path that
// already holds the contents is left untouched. Otherwise the contents are
// written through a temp file and a rename; missing parent directories are
// created. If the object is missing or corrupt, a recorded path that still
// holds the exact bytes is used and the object stored again, if trusted
// (nil: none) accepts it: a path the caller itself passed, never one a
// record merely names (any writer of the cache can forge a record, and
// reading the paths it names would let him learn which files with which
// contents exist elsewhere). Failing that the error wraps ErrUnavailable.
// An existing path that is not a regular file is never replaced
// (ErrNotRegular).
func Restore(st *cas.Store, rec File, path string, trusted func(path string) bool) (File, bool, error) {
	return restore(st, rec, path, trusted)
}

// Hash returns the object ID and size the file at path would be stored
// under (a missing or non-regular file is an error),
// storing nothing: how verify mode compares a recomputed out file with the
// recorded one.
func Hash(path string) (cas.ID, int64, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return cas.ID{}, 0, err
	}
	defer f.Close()
	return hashCopy(f, io.Discard)
}
