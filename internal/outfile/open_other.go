//go:build !unix

package outfile

import "os"

// openNoFollow opens path read-only. This platform has no O_NOFOLLOW or
// O_NONBLOCK; openRegular's checks before and after the open stand in.
func openNoFollow(path string) (*os.File, error) {
	return os.Open(path)
}

// prepareReplace makes an existing read-only file at target writable, since
// a rename cannot replace a read-only file on Windows.
func prepareReplace(target string) {
	if fi, err := os.Lstat(target); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o200 == 0 {
		os.Chmod(target, fi.Mode().Perm()|0o200)
	}
}
