//go:build unix

package remote

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// openRegular opens path for reading the way every file of the remote
// tier's local state is opened (outbox files, a mirror's state, the
// remote's state): a symbolic link in its last element is refused
// (O_NOFOLLOW) and a fifo does not block the open (O_NONBLOCK); what the
// descriptor turns out to be is checked with fstat: a regular file of at
// most limit bytes, or an error. A hostile cache directory can plant
// anything there; this keeps it from pointing pcache at /dev/zero, at a
// fifo that never answers, or at a file outside the cache.
func openRegular(path string, limit int64) (*os.File, fs.FileInfo, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ELOOP {
			return nil, nil, fmt.Errorf("%s: a symbolic link, not a file pcache wrote", path)
		}
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file (%v)", path, fi.Mode().Type())
	}
	if fi.Size() > limit {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %d bytes, more than the %d such a file can hold", path, fi.Size(), limit)
	}
	return f, fi, nil
}

// currentUID is the user whose outbox files this process publishes (a
// variable so tests can play another user without being root).
var currentUID = os.Getuid

// ownedByMe reports whether fi (from fstat of an open descriptor) belongs
// to the user running this process.
func ownedByMe(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == currentUID()
}

// fileOwner returns the uid of fi, for messages.
func fileOwner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
