package cas

import (
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// copier writes to dst chunks just read (and hashed) from src. On Linux it
// asks the kernel to copy the same byte range of src with copy_file_range(2)
// instead of writing the buffer: on file systems that share blocks (btrfs,
// XFS with reflink) that is a clone and nothing is written; elsewhere it is an
// in-kernel copy. The bytes hashed and the bytes copied are the same range of
// the same open, immutable object file. When the kernel cannot (another file
// system, a pipe, O_APPEND, an old kernel) or copies less, the rest goes
// through an ordinary write of the buffer, and copy_file_range is not tried
// again.
type copier struct {
	src, dst *os.File
	srcFd    int
	rawOK    bool
}

func newCopier(src, dst *os.File) *copier {
	c := &copier{src: src, dst: dst, rawOK: useCopyFileRange}
	if c.rawOK {
		c.srcFd = int(src.Fd()) // a regular file the store opened: Fd has no side effects
	}
	return c
}

// useCopyFileRange can be turned off by tests to exercise the write path.
var useCopyFileRange = true

// copiedInKernel counts bytes copy_file_range copied, for tests.
var copiedInKernel atomic.Int64

// write copies p, which was read from src at offset off, to dst.
func (c *copier) write(p []byte, off int64) error {
	if c.rawOK {
		rc, err := c.dst.SyscallConn()
		if err != nil {
			c.rawOK = false
		}
		for c.rawOK && len(p) > 0 {
			var n int
			var cerr error
			roff := off
			err = rc.Control(func(fd uintptr) {
				for {
					n, cerr = unix.CopyFileRange(c.srcFd, &roff, int(fd), nil, len(p), 0)
					if cerr != unix.EINTR {
						return
					}
				}
			})
			if err != nil || cerr != nil || n <= 0 {
				c.rawOK = false // fall back to writing what is left
				break
			}
			copiedInKernel.Add(int64(n))
			p = p[n:]
			off += int64(n)
		}
		if len(p) == 0 {
			return nil
		}
	}
	_, err := c.dst.Write(p)
	return err
}
