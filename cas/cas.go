// Package cas is pcache's content-addressed object store: byte blobs named
// by the BLAKE3-256 hash of their bytes, written atomically, verified on
// every read, shared safely by every goroutine and process on the machine.
//
// A Store keeps its objects under dir/objects (small ones appended to pack
// files, large ones one file each) and its temporary files under dir/tmp;
// a pcache cache directory is such a dir. An object is never changed once
// written, so a reader never sees a partial one: a read whose bytes do not
// hash to the ID fails with ErrCorrupt, and a missing object with
// ErrNotFound.
package cas

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/pcache/pcache/internal/bridge"
	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
)

func init() { bridge.Objects = func(store any) *cas.Store { return store.(*Store).s } }

// ID names an object: the BLAKE3-256 hash of its bytes.
type ID [32]byte

// Sum returns the ID of an object holding b.
func Sum(b []byte) ID { return ID(cas.Sum(b)) }

// String returns the ID in lowercase hex, as object files are named.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

var (
	// ErrNotFound is wrapped by the error of a read of an object the
	// store does not have.
	ErrNotFound = cas.ErrNotFound
	// ErrCorrupt is wrapped by the error of a read of an object whose
	// bytes do not hash to its ID (the object is then moved aside).
	ErrCorrupt = cas.ErrCorrupt
)

// Store is an object store. Its methods are safe for concurrent use.
type Store struct{ s *cas.Store }

// Open opens (creating it if needed) the object store in directory dir.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("cas: open: empty directory name")
	}
	s, err := cas.Open(layout.New(dir), cas.Options{})
	if err != nil {
		return nil, fmt.Errorf("cas: open %s: %w", dir, err)
	}
	return &Store{s}, nil
}

// Put stores b (if the store does not have it already) and returns its ID.
func (s *Store) Put(b []byte) (ID, error) {
	id, err := s.s.Put(b)
	return ID(id), err
}

// Get returns the bytes of object id, verified against it.
func (s *Store) Get(id ID) ([]byte, error) {
	size, err := s.s.Size(cas.ID(id))
	if err != nil {
		return nil, err
	}
	return s.s.Get(cas.ID(id), size)
}

// Has reports whether the store holds object id.
func (s *Store) Has(id ID) (bool, error) { return s.s.Has(cas.ID(id)) }

// Close writes out what the store buffers (the pack this process appends
// to) and releases its files; objects it returned stay valid.
func (s *Store) Close() error { return s.s.Close() }
