package cas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/zeebo/blake3"
)

// Writer writes one object as a stream: each byte is hashed as it goes to
// a temp file of the store, so memory use does not depend on the object's
// size; Commit then names the file by its hash. Until Commit or Abort the
// temp file is the Writer's (gc spares young temp files).
type Writer struct {
	s    *Store
	f    *os.File
	h    *blake3.Hasher
	n    int64
	id   ID
	done bool // Finish was called: no more writes, id is set
	err  error
}

// Create starts a streamed object.
func (s *Store) Create() (*Writer, error) {
	if s.readOnly {
		return nil, ErrReadOnly
	}
	f, err := s.createTemp("stream")
	if err != nil {
		return nil, err
	}
	return &Writer{s: s, f: f, h: blake3.New()}, nil
}

// Write appends p to the object.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, errors.New("cas: write to a finished object")
	}
	n, err := tempWrite(w.f, p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		w.err = fmt.Errorf("cas: write object: %w", err)
		return n, w.err
	}
	return n, nil
}

// Finish ends the writing and returns the object's ID and size.
func (w *Writer) Finish() (ID, int64, error) {
	if w.err != nil {
		return ID{}, 0, w.err
	}
	if !w.done {
		w.done, w.id = true, sum(w.h)
	}
	return w.id, w.n, nil
}

// Commit finishes the object and stores it under its ID (or drops the
// temp file when the object is there already).
func (w *Writer) Commit() (ID, int64, error) {
	id, n, err := w.Finish()
	if err != nil {
		return ID{}, 0, err
	}
	if w.f == nil {
		return ID{}, 0, errors.New("cas: object committed or aborted already")
	}
	f := w.f
	w.f = nil
	// Only a raw copy counts as there: callers read the object at any
	// offset (a compressed one another function stored would not do).
	path := w.s.Path(id)
	if err := w.s.place(id, f, path, n, w.s.present(id, path, n)); err != nil {
		return ID{}, 0, err
	}
	return id, n, nil
}

// Abort drops the temp file of an object that is not to be stored.
func (w *Writer) Abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
}

// Name returns the temp file's path (until Commit or Abort).
func (w *Writer) Name() string {
	if w.f == nil {
		return ""
	}
	return w.f.Name()
}

// Object is a stored object opened for reading at any offset.
type Object interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// OpenObject opens object id for reading, without verifying it: a packed
// object is copied out of its pack, a loose one is its file, opened
// read-only. Callers that need the bytes verified call Verify first.
func (s *Store) OpenObject(id ID) (Object, error) {
	var mem []byte
	if ok, err := s.packs.get(id, -1, func(b []byte) error { mem = append([]byte(nil), b...); return nil }); ok {
		if err != nil {
			return nil, err
		}
		return memObject{bytes.NewReader(mem)}, nil
	}
	f, _, err := s.openObject(id, s.Path(id))
	if err != nil {
		return nil, err
	}
	return f, nil
}

type memObject struct{ *bytes.Reader }

func (memObject) Close() error { return nil }
