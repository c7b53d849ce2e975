//go:build !linux

package cas

import (
	"errors"
	"fmt"
	"io"

	"github.com/pcache/pcache/internal/fsutil"
)

// get reads and verifies object id; want >= 0 is the size the caller expects.
// This is the portable version; Linux uses raw system calls (get_linux.go).
func (s *Store) get(id ID, want int64) ([]byte, error) {
	path := s.Path(id)
	f, fi, err := s.openObject(id, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := checkSize(id, path, fi.Size(), want); err != nil {
		return nil, err
	}
	if fsutil.Hollow(fi) {
		return nil, corrupt(id, path, "a sparse file: its size is far beyond the space it occupies")
	}
	b := make([]byte, fi.Size())
	n, got, err := readHash(func(p []byte) (int, error) {
		n, err := f.Read(p)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return n, err
	}, b)
	if err != nil {
		return nil, fmt.Errorf("cas: %w", err)
	}
	return s.finishGet(id, path, b, n, got, fi.ModTime())
}
