//go:build !unix

package outfile

import "os"

// openNoFollow opens path read-only. This platform has no O_NOFOLLOW or
// O_NONBLOCK; openRegular's checks before and after the open stand in.
func openNoFollow(path string) (*os.File, error) {
	return os.Open(path)
}
