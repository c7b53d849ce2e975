// Package outfile captures the files a function writes into an object
// store (package cas) and restores them, byte for byte, to any path.
//
// Capture streams a written file into the store and returns its record;
// Restore writes the recorded contents to a path through a temp file and a
// rename (a path that already holds them is left untouched), creating
// missing parent directories, and never replaces what is not a regular file.
package outfile

import (
	"fmt"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/internal/bridge"
	icas "github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/outfile"
)

// File is the record of one captured file: its contents and permissions.
type File struct {
	Object cas.ID // the contents, in the object store
	Size   int64  // their size in bytes
	Mode   uint32 // permission bits to restore
}

var (
	// ErrMissing is wrapped by Capture's error for a path that holds no
	// regular file.
	ErrMissing = outfile.ErrMissing
	// ErrUnavailable is wrapped by Restore's error when the store no longer
	// has the contents (missing or corrupt).
	ErrUnavailable = outfile.ErrUnavailable
)

// Capture stores the file at path (a symbolic link is followed) in st and
// returns its record. A file that keeps changing while it is read is an
// error, never a record of contents it did not have.
func Capture(st *cas.Store, path string) (File, error) {
	abs, err := outfile.Abs(path)
	if err != nil {
		return File{}, fmt.Errorf("outfile: capture %s: %w", path, err)
	}
	f, err := outfile.Capture(bridge.Objects(st), "file", abs)
	if err != nil {
		return File{}, err
	}
	return File{Object: cas.ID(f.Object), Size: f.Size, Mode: f.Mode}, nil
}

// Restore makes path hold f's contents and permission bits.
func Restore(st *cas.Store, f File, path string) error {
	abs, err := outfile.Abs(path)
	if err != nil {
		return fmt.Errorf("outfile: restore %s: %w", path, err)
	}
	_, _, err = outfile.Restore(bridge.Objects(st), outfile.File{Arg: "file", Object: icas.ID(f.Object), Size: f.Size, Mode: f.Mode}, abs, nil)
	return err
}
