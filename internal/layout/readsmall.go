package layout

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// errPlanted marks a file of the cache's own that is a link, a FIFO or
// another special file, or far larger than pcache makes it.
var errPlanted = errors.New("not a file pcache makes")

// maxSmallFile bounds the marker and the README: a planted giant file is
// damage, never an allocation of its size.
const maxSmallFile = 64 << 10

// readSmall reads a small file of the cache's own (the marker, the
// README) without following a link at its name, without blocking on a
// FIFO planted there, and refusing anything but a regular file of at most
// maxSmallFile bytes.
func readSmall(path string) ([]byte, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: a %v", errPlanted, fi.Mode().Type())}
	}
	if fi.Size() > maxSmallFile {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes", errPlanted, fi.Size())}
	}
	return io.ReadAll(io.LimitReader(f, maxSmallFile+1))
}
