// Package manifest is pcache's index: per function name, a map from key
// hashes to entries naming their results, shared by every process at once.
//
// Entries are appended to journals (one per writer, never rewritten) and
// compacted into sorted, memory-mapped segments; a lookup never reads a
// whole file. Any number of processes append and look up at once, without
// a lock on the read path; a crash loses nothing Append returned, and
// damage is skipped and reported, never returned as an entry. Of two
// entries of one key, the later wins; Delete and ForgetAll append
// tombstones, so copies of the directory merged later (rsync) stay
// forgotten.
package manifest

import (
	"errors"
	"fmt"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// Entry is what a manifest records for one key.
type Entry struct {
	KeyHash [32]byte // the key's hash (the caller's choice of hash)
	Key     []byte   // the key itself; optional
	Result  [32]byte // the result's object ID (package cas)
	Size    int64    // the result's size in bytes
	Codec   string   // how the result is encoded; the caller's
	Time    int64    // unix ns when it was recorded; Append fills in 0
}

// ErrClosed is wrapped by the errors of a closed Manifest's methods.
var ErrClosed = manifest.ErrClosed

// Manifest is the index of one function name in a directory. Its methods
// are safe for concurrent use.
type Manifest struct{ m *manifest.Manifest }

// Open opens (creating it if needed) the index of function name in
// directory dir. A name is a slash-separated path of letters, digits and
// ._- ("imaging/thumbnail/v2").
func Open(dir, name string) (*Manifest, error) {
	if dir == "" {
		return nil, errors.New("manifest: open: empty directory name")
	}
	m, err := manifest.Open(layout.New(dir), name, manifest.Options{})
	if err != nil {
		return nil, fmt.Errorf("manifest: open %s in %s: %w", name, dir, err)
	}
	return &Manifest{m}, nil
}

// List returns the function names with an index in directory dir.
func List(dir string) ([]string, error) { return manifest.List(layout.New(dir)) }

// Append records entries; when it returns, every Manifest of the name, in
// this process or another, finds them.
func (m *Manifest) Append(entries ...Entry) error {
	recs := make([]record.Entry, len(entries))
	for i, e := range entries {
		recs[i] = record.Entry{KeyHash: e.KeyHash, Key: e.Key, Result: e.Result, Size: e.Size, Codec: e.Codec, Time: e.Time}
	}
	err := m.m.Append(recs...)
	for i := range entries {
		entries[i].Time = recs[i].Time
	}
	return err
}

// Lookup returns the entry of keyHash, reading what other processes
// appended since if it has to.
func (m *Manifest) Lookup(keyHash [32]byte) (Entry, bool, error) {
	r, ok, err := m.m.Lookup(keyHash)
	if !ok || err != nil {
		return Entry{}, false, err
	}
	return entryOf(&r), true, nil
}

// Delete forgets the entries of the key hashes.
func (m *Manifest) Delete(keyHashes ...[32]byte) error {
	hs := make([]record.KeyHash, len(keyHashes))
	for i, h := range keyHashes {
		hs[i] = h
	}
	return m.m.Delete(hs...)
}

// ForgetAll forgets every entry recorded until now.
func (m *Manifest) ForgetAll() error { return m.m.ForgetAll() }

// Iterate calls fn with every entry, in increasing KeyHash order; an error
// from fn stops it and is returned.
func (m *Manifest) Iterate(fn func(Entry) error) error {
	return m.m.Iterate(func(r record.Entry) error { return fn(entryOf(&r)) })
}

// Close releases the Manifest's files.
func (m *Manifest) Close() error { return m.m.Close() }

func entryOf(r *record.Entry) Entry {
	return Entry{KeyHash: r.KeyHash, Key: r.Key, Result: r.Result, Size: r.Size, Codec: r.Codec, Time: r.Time}
}
