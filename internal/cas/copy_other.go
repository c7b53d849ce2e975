//go:build !linux

package cas

import "os"

// copier writes to dst chunks just read (and hashed) from src.
type copier struct{ dst *os.File }

func newCopier(src, dst *os.File) *copier { return &copier{dst: dst} }

var useCopyFileRange = false

// write copies p, which was read from src at offset off, to dst.
func (c *copier) write(p []byte, off int64) error {
	_, err := c.dst.Write(p)
	return err
}
