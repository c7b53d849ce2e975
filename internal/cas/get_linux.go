package cas

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pcache/pcache/internal/fsutil"
)

// get reads and verifies object id; want >= 0 is the size the caller expects.
// An object stored compressed is found after its raw name is not (getZst).
//
// This is the hot path of every cache hit, so on Linux it skips *os.File (whose
// open costs extra fcntl and epoll system calls and a cleanup registration):
// one open, one fstat, reads into a buffer sized from fstat, one close, one
// hash.
func (s *Store) get(id ID, want int64) ([]byte, error) { return s.getInto(id, want, nil) }

// getInto is get reading into into (nil: a new buffer), which must be
// exactly as long as the object.
func (s *Store) getInto(id ID, want int64, into []byte) ([]byte, error) {
	path := s.Path(id)
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return s.orZst(id, want, into, openErr(id, path, &os.PathError{Op: "open", Path: path, Err: err}))
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("cas: stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		reason := "not a regular file"
		if fi, err := os.Lstat(path); err == nil {
			reason = modeReason(fi.Mode())
		}
		return nil, corrupt(id, path, reason)
	}
	if err := checkSize(id, path, st.Size, want); err != nil {
		return nil, err
	}
	if fsutil.HollowSize(st.Size, st.Blocks) {
		return nil, hollow(id, path, st.Size, st.Blocks)
	}
	b := into
	if b == nil {
		b = make([]byte, st.Size)
	} else if int64(len(b)) != st.Size {
		return nil, corrupt(id, path, fmt.Sprintf("%d bytes, not the %d expected", st.Size, len(b)))
	}
	n, got, err := readHash(func(p []byte) (int, error) {
		for {
			n, err := unix.Read(fd, p)
			if err != unix.EINTR {
				if n < 0 {
					n = 0
				}
				return n, err
			}
		}
	}, b)
	if err != nil {
		return nil, fmt.Errorf("cas: %w", &os.PathError{Op: "read", Path: path, Err: err})
	}
	return s.finishGet(id, path, b, n, got, time.Unix(st.Mtim.Unix()))
}
