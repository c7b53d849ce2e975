package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Opening files in a shared cache directory. Any member of the group that
// shares a cache can put anything at any path in it: a symbolic link to
// another user's file, a hard link to one, a FIFO, a file of 1 TiB that
// occupies no blocks. So every file pcache opens in a cache goes through
// OpenRegular: the last path component is never followed if it is a
// symbolic link (O_NOFOLLOW, so a dangling link cannot make O_CREAT create
// a file elsewhere either), a FIFO cannot block the open (O_NONBLOCK), and
// the descriptor, not the path, is checked to be a regular file.

// ErrNotRegular is wrapped by the errors of OpenRegular and ReadRegular for
// a path that holds a symbolic link, a directory, a FIFO, a socket or a
// device instead of a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrHollow is wrapped by the errors of ReadRegular for a file whose size
// is far beyond the disk space it occupies (see Hollow), and for a file
// larger than the caller's limit.
var ErrHollow = errors.New("file too large for what it holds")

// Hollow limits: a file is hollow when it is at least hollowMin bytes long
// and occupies less than 1/hollowRatio of its size on disk. Compressing
// file systems (ZFS, btrfs) legitimately store files in fewer blocks than
// their size, so the ratio is generous; a hollow file is only ever a miss.
const (
	hollowMin   = 8 << 20
	hollowRatio = 64
)

// HollowSize reports whether a file of size bytes occupying blocks 512-byte
// blocks is hollow: mostly holes (a sparse file), so that allocating its
// size in memory would cost far more than the disk space it costs whoever
// planted it. Such files are treated as damaged.
func HollowSize(size, blocks int64) bool {
	return size >= hollowMin && blocks >= 0 && blocks*512 < size/hollowRatio
}

// OpenRegular opens path with flag (os.O_RDONLY, or os.O_RDWR|os.O_CREATE
// for lock files) and perm, without following a symbolic link at path and
// without blocking on a FIFO, and checks through the descriptor that it is
// a regular file. A symbolic link, a directory or any other kind of file is
// an error wrapping ErrNotRegular (a path where something else was planted
// costs that file, never a write elsewhere).
func OpenRegular(path string, flag int, perm os.FileMode) (*os.File, fs.FileInfo, error) {
	f, err := OpenNoFollow(path, flag, perm)
	if err != nil {
		if isSymlinkErr(err) {
			return nil, nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("symbolic link: %w", ErrNotRegular)}
		}
		if errors.Is(err, errIsDir) {
			return nil, nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("directory: %w", ErrNotRegular)}
		}
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%s: %w", Kind(fi.Mode()), ErrNotRegular)}
	}
	return f, fi, nil
}

// Hollow reports whether the opened file fi is hollow (see HollowSize).
func Hollow(fi fs.FileInfo) bool {
	blocks, ok := allocated(fi)
	return ok && HollowSize(fi.Size(), blocks)
}

// Linked reports whether fi has more than one hard link: it may be another
// user's file linked into the cache, so pcache never changes its mode,
// truncates it or writes into it.
func Linked(fi fs.FileInfo) bool {
	n, ok := links(fi)
	return ok && n > 1
}

// ReadRegular reads the whole regular file at path (see OpenRegular) if it
// is at most max bytes and not hollow; a larger or hollow file is an error
// wrapping ErrHollow, refused before anything is allocated.
func ReadRegular(path string, max int64) ([]byte, error) {
	f, fi, err := OpenRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := CheckSize(path, fi, max); err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size())
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return b[:n], nil
}

// CheckSize returns an error wrapping ErrHollow if the opened file fi
// (found at path) is larger than max bytes or hollow.
func CheckSize(path string, fi fs.FileInfo, max int64) error {
	if Hollow(fi) {
		blocks, _ := allocated(fi)
		return &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%d bytes in %d allocated (a sparse file): %w", fi.Size(), blocks*512, ErrHollow)}
	}
	if fi.Size() > max {
		return &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%d bytes, over the %d-byte limit for this file: %w", fi.Size(), max, ErrHollow)}
	}
	return nil
}
