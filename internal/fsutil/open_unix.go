//go:build unix

package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// NoFollowFlags are added to every open of a file in a cache: no symbolic
// link at the last component, no blocking on a FIFO (regular files ignore
// O_NONBLOCK).
const NoFollowFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

var errIsDir = syscall.EISDIR

// createExcl creates the file at path, which must not exist, for reading
// and writing with mode perm. The descriptor is a blocking one wrapped by
// os.NewFile: os.OpenFile would make it non-blocking, offer it to the
// poller (which refuses regular files) and make it blocking again, four
// system calls more for every file pcache writes.
func createExcl(path string, perm os.FileMode) (*os.File, error) {
	fd, err := openFD(path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, perm)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openFD is open(2) of path, retried on EINTR; its error names path.
func openFD(path string, flag int, perm os.FileMode) (int, error) {
	for {
		fd, err := syscall.Open(path, flag, uint32(perm.Perm()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// OpenNoFollow opens path with flag (plus NoFollowFlags) and perm, failing
// if its last component is a symbolic link; the caller checks what it
// opened (OpenRegular does).
//
// The descriptor is made blocking again once open (regular files ignore
// O_NONBLOCK; a FIFO is refused by the caller before anything reads it)
// and wrapped by os.NewFile, so that it is never offered to the runtime's
// poller: os.OpenFile would offer it (epoll refuses regular files), and
// the first such offer in a process sets the poller up.
func OpenNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	flag |= NoFollowFlags | syscall.O_CLOEXEC
	fd, err := openFD(path, flag, perm)
	if err != nil {
		return nil, err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flag&^syscall.O_NONBLOCK); err != nil {
		syscall.Close(fd)
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// isSymlinkErr reports whether an O_NOFOLLOW open failed on a symbolic link
// (ELOOP on Linux and the BSDs, EMLINK on FreeBSD, EFTYPE on NetBSD).
func isSymlinkErr(err error) bool {
	return errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) || isEFTYPE(err)
}

func allocated(fi fs.FileInfo) (int64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int64(st.Blocks), true
}

func links(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Nlink), true
}
