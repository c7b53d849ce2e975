// Package maintain checks, repairs, garbage-collects, inspects, exports and
// imports pcache cache directories: the library behind pcache-fsck and Store.Check and Store.GC.
//
// Every function works on a Cache, opened with Open, which refuses a
// directory that is not a pcache cache (it has no marker): nothing here
// creates or deletes a file in a directory that is not a cache, or outside
// the cache's own subdirectories. Long work reports progress through
// Progress; reports are plain structs (with JSON tags) for the caller to
// print.
package maintain

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// ErrDamagedMarker is wrapped by MarkerProblem's error: the cache's marker
// (pcache.json) is damaged or missing though the directory is a cache.
var ErrDamagedMarker = layout.ErrDamagedMarker

// Cache is an existing cache directory opened for maintenance.
type Cache struct {
	d      layout.Dir
	store  *cas.Store
	marker error // why the marker is damaged or missing; nil when sound
	board  changeBoard
	unsafe []error // planted links and files where the cache's own directories belong
}

// Open opens the cache directory dir for maintenance. It fails, wrapping
// layout.ErrNotCache (the one "not a cache" sentinel, pcache.ErrNotCache
// too), when dir does not exist or is not a cache (layout.CheckMarker
// decides, as it does for pcache.Open), so a mistyped path is never treated
// as an empty cache; a directory it may not read fails with a permission
// error. A cache whose marker is damaged is opened (the library uses it
// too): MarkerProblem says so, Check reports it, and Check with Repair
// rewrites it. Open creates nothing.
func Open(dir string) (*Cache, error) {
	d := layout.New(dir)
	var damaged error
	if _, err := d.CheckMarker(); errors.Is(err, layout.ErrDamagedMarker) {
		damaged = err
	} else if err != nil {
		return nil, err
	}
	st, err := cas.Open(d, cas.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	return &Cache{d: d, store: st, marker: damaged, unsafe: d.CheckOwnDirs(true)}, nil
}

// MarkerProblem returns an error wrapping ErrDamagedMarker when the cache's
// marker is damaged or missing (Check with Repair rewrites it), else nil.
func (c *Cache) MarkerProblem() error { return c.marker }

// Init makes dir a new, empty cache (creating it if needed) and opens it. A
// directory that already holds files but no marker is refused.
func Init(dir string) (*Cache, error) {
	d := layout.New(dir)
	_, err := d.CheckMarker()
	switch {
	case err == nil:
		return Open(dir)
	case errors.Is(err, layout.ErrDamagedMarker):
		return nil, &DamagedError{Dir: d.Root(), Path: layout.MarkerFile, Problem: "it is a cache already", Fix: FixRepair, Err: err}
	case errors.Is(err, layout.ErrNewerCache), errors.Is(err, fs.ErrPermission):
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil { // private, as Open makes a new cache
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if ents, err := os.ReadDir(dir); err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	} else if len(ents) > 0 {
		return nil, fmt.Errorf("%s already holds files and is not a cache: refusing to make it one", dir)
	}
	if err := d.WriteMarker(); err != nil {
		return nil, err
	}
	return Open(dir)
}

// Dir returns the cache directory.
func (c *Cache) Dir() string { return c.d.Root() }

// Layout returns the cache directory's layout (its paths and names).
func (c *Cache) Layout() layout.Dir { return c.d }

// Objects returns the maintenance object store: it reads and verifies,
// and never refreshes an object's mtime.
func (c *Cache) Objects() *cas.Store { return c.store }

// WritableObjects returns the object store opened for writing (repair, gc,
// import), adding the marker to a cache written before markers existed.
func (c *Cache) WritableObjects() (*cas.Store, error) {
	if err := c.d.WriteMarker(); err != nil {
		return nil, err
	}
	return cas.Open(c.d, cas.Options{})
}

// Functions returns the names of the functions stored in the cache, sorted.
func (c *Cache) Functions() ([]string, error) {
	names, err := manifest.List(c.d)
	if err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// HasFunction fails unless name is a stored function: with a
// *NoFunctionError when the cache holds no function of that name.
func (c *Cache) HasFunction(name string) error {
	if err := layout.CheckName(name); err != nil {
		return err
	}
	names, err := c.Functions()
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == name {
			return nil
		}
	}
	return &NoFunctionError{Dir: c.d.Root(), Name: name}
}

// Entries returns the live entries of one function, in key order. It fails
// on a manifest that cannot be read: callers that delete anything must fail
// closed.
func (c *Cache) Entries(name string) ([]record.Entry, error) {
	m, err := manifest.Open(c.d, name, manifest.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	defer m.Close()
	var es []record.Entry
	err = m.Iterate(func(e record.Entry) error {
		es = append(es, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	return es, nil
}

// entriesOf reads the live entries of every named function.
func (c *Cache) entriesOf(names []string) (map[string][]record.Entry, error) {
	out := make(map[string][]record.Entry, len(names))
	for _, name := range names {
		es, err := c.Entries(name)
		if err != nil {
			return nil, err
		}
		out[name] = es
	}
	return out, nil
}

// ObjectRef is one use of an object by a manifest entry.
type ObjectRef struct {
	Name    string   // function name
	KeyHash [32]byte // entry key hash
	Role    string   // "result" or "out:<arg>"
	Size    int64    // size the entry records
}

func (r ObjectRef) String() string {
	return fmt.Sprintf("%s key %s (%s, %d bytes)", r.Name, ShortHash(r.KeyHash), r.Role, r.Size)
}

// ObjectsOf returns the objects an entry references with their recorded sizes.
func ObjectsOf(name string, e record.Entry) map[cas.ID]ObjectRef {
	refs := make(map[cas.ID]ObjectRef, 1+len(e.Outs))
	if e.Result != ([32]byte{}) {
		refs[e.Result] = ObjectRef{Name: name, KeyHash: e.KeyHash, Role: "result", Size: e.Size}
	}
	for _, o := range e.Outs {
		if o.Object == ([32]byte{}) {
			continue
		}
		if _, ok := refs[o.Object]; !ok {
			refs[o.Object] = ObjectRef{Name: name, KeyHash: e.KeyHash, Role: "out:" + o.Arg, Size: o.Size}
		}
	}
	return refs
}

// refIndex maps every referenced object to the entries that use it.
type refIndex map[cas.ID][]ObjectRef

func buildRefs(entries map[string][]record.Entry) refIndex {
	idx := make(refIndex)
	for _, name := range sortedKeys(entries) {
		for _, e := range entries[name] {
			for id, r := range ObjectsOf(name, e) {
				idx[id] = append(idx[id], r)
			}
		}
	}
	return idx
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// SortedIDs returns the IDs of m in byte order.
func SortedIDs[V any](m map[cas.ID]V) []cas.ID {
	ids := make([]cas.ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	return ids
}

// ShortHash is the first 12 hex digits of a key hash: enough to name an
// entry for rm -key.
func ShortHash(h [32]byte) string { return fmt.Sprintf("%x", h[:6]) }

// entryTime converts an entry's Unix nanoseconds to a time.
func entryTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// deleteEntries tombstones entries of one function.
func (c *Cache) deleteEntries(name string, hs [][32]byte) error {
	m, err := manifest.Open(c.d, name, c.ManifestOptions())
	if err != nil {
		return err
	}
	keys := make([]record.KeyHash, len(hs))
	for i, h := range hs {
		keys[i] = h
	}
	if err := m.Delete(keys...); err != nil {
		m.Close()
		return err
	}
	return m.Close()
}

// Progress is how long work reports what it has done; nil draws nothing.
// Start begins one phase of total units (bytes if bytes is set, else items).
type Progress interface {
	Start(what string, total int64, bytes bool) Counter
}

// Counter counts the units a phase has done.
type Counter interface {
	Add(n int64)
	Done()
}

type noCounter struct{}

func (noCounter) Add(int64) {}
func (noCounter) Done()     {}

// StartProgress starts a phase of p (nil: one that draws nothing).
func StartProgress(p Progress, what string, total int64, bytes bool) Counter {
	if p == nil {
		return noCounter{}
	}
	return p.Start(what, total, bytes)
}
