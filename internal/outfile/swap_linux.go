package outfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// swapDir puts the directory tmp in dir's place: renamed in when dir does
// not exist, else exchanged with it in one step (renameat2
// RENAME_EXCHANGE), so dir is the old tree or the new one, never missing;
// the old tree, now at tmp, is removed.
func swapDir(tmp, dir string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
		return os.RemoveAll(tmp)
	case errors.Is(err, unix.ENOENT):
		return os.Rename(tmp, dir)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return swapByRenames(tmp, dir) // a file system without the exchange
	}
	return err
}
