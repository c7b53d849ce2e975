package outfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pcache/pcache/internal/cas"
)

// ErrMissing is wrapped by Capture's error when a declared out file was not
// written (or is not a regular file); the caller must not cache the call.
var ErrMissing = errors.New("outfile: declared out file was not written")

// ErrUnavailable is wrapped by Restore's error when the recorded contents can
// no longer be produced: the object is missing or corrupt and no recorded path
// still holds the bytes, or the record itself is inconsistent. The caller
// should recompute.
var ErrUnavailable = errors.New("outfile: recorded contents are no longer available")

// ErrNotRegular is wrapped, beside ErrMissing, by Capture's error when the out
// file exists but is not a regular file, and by Restore's error when the
// requested path exists but is not a regular file (a directory, a device, a
// fifo), which Restore never replaces.
var ErrNotRegular = errors.New("outfile: not a regular file")

// MaxPaths is the number of most recent paths an OutFile record keeps.
const MaxPaths = 16

// defaultMode is the permission given to a restored file whose record has no
// permission bits.
const defaultMode = 0o644

// Abs returns the absolute, cleaned form of path, resolving a relative path
// against the working directory at the time of the call, so "./abc", "abc" and
// "dir/../abc" name the same out file. An empty path is an error.
func Abs(path string) (string, error) {
	if path == "" {
		return "", errors.New("outfile: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("outfile: resolve %q: %w", path, err)
	}
	return abs, nil
}

// store is the part of *cas.Store this package uses; tests inject faults
// through it.
type store interface {
	PutReader(r io.Reader) (cas.ID, int64, error)
	CopyTo(id cas.ID, dst *os.File) (int64, error)
	Has(id cas.ID) (bool, error)
	Quarantine(id cas.ID) (string, error)
}

// perm returns the permission bits to give a restored file: the rwx bits of
// mode, or defaultMode when it has none.
func perm(mode uint32) os.FileMode {
	p := os.FileMode(mode) & os.ModePerm
	if p == 0 {
		return defaultMode
	}
	return p
}

// absPath checks that path is absolute and returns it cleaned.
func absPath(fn, path string) (string, error) {
	if path == "" || !filepath.IsAbs(path) {
		return "", fmt.Errorf("outfile: %s %q: path is not absolute (use Abs)", fn, path)
	}
	return filepath.Clean(path), nil
}
