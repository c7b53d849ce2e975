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
func (s *Store) get(id ID, want int64) ([]byte, error) { return s.getInto(id, want, nil) }

// getInto is get reading into into (nil: a new buffer), which must be
// exactly as long as the object.
func (s *Store) getInto(id ID, want int64, into []byte) ([]byte, error) {
	path := s.Path(id)
	f, fi, err := s.openObject(id, path)
	if err != nil {
		return s.orZst(id, want, into, err)
	}
	defer f.Close()
	if err := checkSize(id, path, fi.Size(), want); err != nil {
		return nil, err
	}
	if fsutil.Hollow(fi) {
		return nil, corrupt(id, path, "a sparse file: its size is far beyond the space it occupies")
	}
	b := into
	if b == nil {
		b = make([]byte, fi.Size())
	} else if int64(len(b)) != fi.Size() {
		return nil, corrupt(id, path, fmt.Sprintf("%d bytes, not the %d expected", fi.Size(), len(b)))
	}
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
