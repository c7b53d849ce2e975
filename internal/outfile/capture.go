package outfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/pcache/pcache/internal/fsutil"
)

// captureAttempts bounds how often Capture retries a file that changed while
// it was being stored.
const captureAttempts = 3

func capture(st store, arg, path string) (record, error) {
	path, err := absPath("capture "+arg, path)
	if err != nil {
		return record{}, err
	}
	for range captureAttempts {
		// Stat first: openRegular's errors are about the link's target.
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return record{}, fmt.Errorf("capture out file %s (%s): %w", arg, path, ErrMissing)
		}
		if err != nil {
			return record{}, fmt.Errorf("outfile: capture out file %s: %w", arg, err)
		}
		if !fi.Mode().IsRegular() {
			return record{}, fmt.Errorf("capture out file %s (%s) is a %s: %w: %w", arg, path, fsutil.Kind(fi.Mode()), ErrMissing, ErrNotRegular)
		}
		rec, ok, err := captureOnce(st, arg, path)
		if err != nil || ok {
			return rec, err
		}
	}
	return record{}, fmt.Errorf("outfile: capture out file %s (%s): file kept changing while it was being stored (%d attempts)", arg, path, captureAttempts)
}

// captureOnce stores path's bytes and reports whether the file stayed the
// same (inode, size, modification time) while they were read.
func captureOnce(st store, arg, path string) (record, bool, error) {
	f, before, err := openRegular(path)
	if err != nil {
		return record{}, false, fmt.Errorf("outfile: capture out file %s (%s): %w", arg, path, err)
	}
	defer f.Close()
	id, n, err := st.PutReader(f)
	if err != nil {
		return record{}, false, fmt.Errorf("outfile: capture out file %s (%s): %w", arg, path, err)
	}
	after, err := f.Stat()
	if err != nil {
		return record{}, false, fmt.Errorf("outfile: capture out file %s (%s): %w", arg, path, err)
	}
	cur, err := os.Stat(path)
	if err != nil {
		return record{}, false, fmt.Errorf("outfile: capture out file %s: %w", arg, err)
	}
	// The object's hash describes the recorded size and time only if the
	// file did not change while it was read, and path still names it.
	if !unchanged(before, after) || !os.SameFile(after, cur) || n != after.Size() {
		return record{}, false, nil
	}
	return record{
		Arg:    arg,
		Object: id,
		Size:   n,
		Mode:   uint32(after.Mode().Perm()),
		Paths:  []pathRecord{{Path: path, MtimeNs: trustedMtime(after), Size: n}},
	}, true, nil
}
