package testutil

import (
	"io"
	"os"
	"syscall"
)

// CopyExecutable copies the file src to dst (created or truncated) with
// mode perm, for a test that runs the copy. The copy is written under
// syscall.ForkLock: a child that a parallel test forks meanwhile would
// inherit the open destination until it execs, and running the copy would
// then fail with "text file busy".
func CopyExecutable(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, perm) // whatever the umask
}

// LinkExecutable makes dst a hard link to src, an executable everyone may
// run, or, where that cannot be (another file system, a file another user
// owns, a mode that not everyone may run), a copy of it with mode 0755
// (CopyExecutable). A link costs nothing and is never open for writing.
func LinkExecutable(src, dst string) error {
	if fi, err := os.Stat(src); err == nil && fi.Mode().Perm()&0o555 == 0o555 {
		if err := os.Link(src, dst); err == nil {
			return nil
		}
	}
	return CopyExecutable(src, dst, 0o755)
}
