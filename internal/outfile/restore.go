package outfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/fsutil"
)

// state is what Restore finds at the requested path.
type state int

const (
	absent     state = iota // nothing there, or something Restore will replace
	cheapMatch              // right size and the recorded modification time
	hashMatch               // right size and hash
	notRegular              // a directory, device, fifo…: never replaced
)

func restore(st store, rec record, path string, trusted func(string) bool) (record, bool, error) {
	path, err := absPath("restore "+rec.Arg, path)
	if err != nil {
		return rec, false, err
	}
	if err := checkRecord(rec); err != nil {
		return rec, false, fmt.Errorf("outfile: restore out file %s (%s): %w", rec.Arg, path, err)
	}

	// 1. The path may hold the bytes already.
	s, pr, fi := current(path, rec)
	switch s {
	case cheapMatch:
		ensureStored(st, rec, path)
		return rec, false, nil
	case hashMatch:
		ensureStored(st, rec, path)
		out, changed := withPath(rec, pr)
		return out, changed, nil
	case notRegular:
		return rec, false, fmt.Errorf("outfile: restore out file %s: %s is a %s, not replacing it: %w", rec.Arg, path, fsutil.Kind(fi.Mode()), ErrNotRegular)
	}

	// 2. Write it: temp file beside the target, filled from the store, renamed
	// over the target. A symbolic link's target is what gets replaced, as a
	// write by the function would have.
	target := path
	if lfi, err := os.Lstat(path); err == nil && lfi.Mode()&fs.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(path); err != nil {
			return rec, false, fmt.Errorf("outfile: restore out file %s: resolve link %s: %w", rec.Arg, path, err)
		}
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return rec, false, fmt.Errorf("outfile: restore out file %s: %w", rec.Arg, err)
	}
	mode := perm(rec.Mode)
	f, err := fsutil.CreateTemp(dir, tempPrefix(target), mode)
	if err != nil {
		return rec, false, fmt.Errorf("outfile: restore out file %s (%s): %w", rec.Arg, path, err)
	}
	committing := false
	defer func() {
		if !committing {
			f.Close()
			os.Remove(f.Name())
		}
	}()

	n, err := st.CopyTo(rec.Object, f)
	switch {
	case err == nil && n != rec.Size:
		return rec, false, fmt.Errorf("outfile: restore out file %s (%s): record says %d bytes but object %s holds %d: %w", rec.Arg, path, rec.Size, rec.Object, n, ErrUnavailable)
	case err == nil:
	case errors.Is(err, cas.ErrNotFound) || errors.Is(err, cas.ErrCorrupt):
		cause := err
		if errors.Is(err, cas.ErrCorrupt) {
			if _, qerr := st.Quarantine(rec.Object); qerr != nil {
				cause = fmt.Errorf("%w (quarantine failed: %v)", err, qerr)
			}
		}
		ok, err := recoverInto(st, rec, path, f, trusted)
		if err != nil {
			return rec, false, fmt.Errorf("outfile: restore out file %s (%s): %w", rec.Arg, path, err)
		}
		if !ok {
			return rec, false, fmt.Errorf("outfile: restore out file %s (%s): %w; no recorded path holds the bytes: %w", rec.Arg, path, cause, ErrUnavailable)
		}
	default:
		return rec, false, fmt.Errorf("outfile: restore out file %s (%s): %w", rec.Arg, path, err)
	}

	// The temp file was created with the record's bits under the caller's
	// umask, and keeps them: a record (which any writer of the cache can
	// forge) never makes a file more open than the caller's umask allows.
	fi, err = f.Stat()
	if err != nil {
		return rec, false, fmt.Errorf("outfile: restore out file %s (%s): %w", rec.Arg, path, err)
	}
	prepareReplace(target)
	committing = true // Commit removes the temp file itself on failure.
	if err := fsutil.Commit(f, target, false); err != nil {
		return rec, false, fmt.Errorf("outfile: restore out file %s: %w", rec.Arg, err)
	}
	out, changed := withPath(rec, pathRecord{Path: path, MtimeNs: trustedMtime(fi), Size: fi.Size()})
	return out, changed, nil
}

// checkRecord rejects records no object can satisfy.
func checkRecord(rec record) error {
	switch {
	case rec.Size < 0:
		return fmt.Errorf("record has negative size %d: %w", rec.Size, ErrUnavailable)
	case rec.Object.IsZero():
		return fmt.Errorf("record has no object: %w", ErrUnavailable)
	}
	return nil
}

// current reports what path holds. For hashMatch, pr is the path's fresh
// record; for notRegular, fi describes what is there.
func current(path string, rec record) (s state, pr pathRecord, fi os.FileInfo) {
	fi, err := os.Stat(path)
	if err != nil {
		return absent, pr, nil // missing, dangling link or unreadable: writing decides
	}
	if !fi.Mode().IsRegular() {
		return notRegular, pr, fi
	}
	if fi.Size() != rec.Size {
		return absent, pr, fi
	}
	if r, ok := findPath(rec.Paths, path); ok && r.MtimeNs != 0 && r.MtimeNs == fi.ModTime().UnixNano() && r.Size == fi.Size() {
		return cheapMatch, pr, fi
	}
	f, ofi, err := openRegular(path)
	if err != nil {
		return absent, pr, fi
	}
	defer f.Close()
	id, n, err := hashCopy(f, nil)
	if err != nil || id != rec.Object || n != rec.Size {
		return absent, pr, fi
	}
	after, err := f.Stat()
	if err != nil || !unchanged(ofi, after) {
		return absent, pr, fi
	}
	return hashMatch, pathRecord{Path: path, MtimeNs: trustedMtime(after), Size: n}, fi
}

// ensureStored puts path's bytes (known to be rec's) back into the store if
// the object is gone. It is best effort: path already holds what the caller
// asked for, and a later Restore without a surviving path reports
// ErrUnavailable.
func ensureStored(st store, rec record, path string) {
	if has, err := st.Has(rec.Object); err != nil || has {
		return
	}
	if f, _, err := openRegular(path); err == nil {
		defer f.Close()
		st.PutReader(f)
	}
}

// recoverInto fills f (truncating what it held) from the most recent recorded
// path, other than skip, that still holds exactly rec's bytes, and stores
// them again. It reports whether one did; err is only a failure to write f.
func recoverInto(st store, rec record, skip string, f *os.File, trusted func(string) bool) (bool, error) {
	seen := map[string]bool{skip: true}
	for i := len(rec.Paths) - 1; i >= 0; i-- {
		p := rec.Paths[i].Path
		if !filepath.IsAbs(p) {
			continue // hostile or damaged: never resolve against our working directory
		}
		p = filepath.Clean(p)
		if seen[p] || trusted == nil || !trusted(p) {
			continue // only paths the caller passed: a record's word is nobody's
		}
		seen[p] = true
		ok, err := copyIfHolds(p, rec, f)
		if err != nil {
			return false, err
		}
		if ok {
			// Best effort, as in ensureStored: f holds the verified bytes.
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return false, err
			}
			st.PutReader(f)
			return true, nil
		}
	}
	return false, nil
}

// copyIfHolds copies p into f (from offset 0, truncating f) if p is a regular
// file holding exactly rec's bytes, and reports whether it did. err is only a
// failure to write f; anything wrong with p is a false.
func copyIfHolds(p string, rec record, f *os.File) (bool, error) {
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() || fi.Size() != rec.Size {
		return false, nil
	}
	src, ofi, err := openRegular(p)
	if err != nil || ofi.Size() != rec.Size {
		if err == nil {
			src.Close()
		}
		return false, nil
	}
	defer src.Close()
	if err := f.Truncate(0); err != nil {
		return false, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	id, n, err := hashCopy(io.LimitReader(src, rec.Size+1), f)
	var werr *writeError
	if errors.As(err, &werr) {
		return false, werr.err
	}
	if err != nil || id != rec.Object || n != rec.Size {
		return false, nil
	}
	after, err := src.Stat()
	if err != nil || !unchanged(ofi, after) {
		return false, nil
	}
	return true, nil
}

// tempPrefix returns ".<base>." for the temp file beside target, with base
// cut (at a character boundary) so the whole name stays under the usual
// 255-byte limit.
func tempPrefix(target string) string {
	base := filepath.Base(target)
	const max = 100
	if len(base) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(base[cut]) {
			cut--
		}
		base = base[:cut]
	}
	return "." + base + "."
}
