package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/manifest"
)

// defaultDir is the cache directory used when -dir is not given: the same one
// pcache.Open("") uses.
func defaultDir() (string, error) { return pcache.DefaultDir() }

// requireCache fails unless dir is an existing directory, so a mistyped -dir
// is reported instead of silently checking (or creating) an empty cache.
func requireCache(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cache directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("cache directory %s: not a directory", dir)
	}
	return nil
}

// openStore opens the object store of an existing cache directory.
// openFuncStore checks that dir is a cache holding function name and opens
// its object store: the start of every command that works on one function.
func openFuncStore(dir, name string) (*cas.Store, error) {
	if err := requireCache(dir); err != nil {
		return nil, err
	}
	if err := requireFunc(dir, name); err != nil {
		return nil, err
	}
	return openStore(dir)
}

func openStore(dir string) (*cas.Store, error) {
	if err := requireCache(dir); err != nil {
		return nil, err
	}
	s, err := cas.Open(dir, cas.Options{})
	if err != nil {
		return nil, fmt.Errorf("open object store: %w", err)
	}
	return s, nil
}

// loadEntries reads the live (not deleted) entries of every named function.
// It fails on the first manifest that cannot be read: callers that delete
// anything must fail closed.
func loadEntries(dir string, names []string) (map[string][]manifest.Entry, error) {
	out := make(map[string][]manifest.Entry, len(names))
	for _, name := range names {
		es, err := loadFunc(dir, name)
		if err != nil {
			return nil, err
		}
		out[name] = es
	}
	return out, nil
}

// loadFunc reads the live entries of one function, in manifest order.
func loadFunc(dir, name string) ([]manifest.Entry, error) {
	m, err := manifest.Open(dir, name, manifest.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	defer m.Close()
	var es []manifest.Entry
	err = m.Iterate(func(e manifest.Entry) error {
		if !e.Deleted {
			es = append(es, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	return es, nil
}

// listFuncs returns the function names stored in dir, sorted.
func listFuncs(dir string) ([]string, error) {
	names, err := manifest.List(dir)
	if err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// objRef is one use of an object by a manifest entry.
type objRef struct {
	Name    string   // function name
	KeyHash [32]byte // entry key hash
	Role    string   // "result" or "out:<arg>"
	Size    int64    // size the entry records
}

func (r objRef) String() string {
	return fmt.Sprintf("%s key %s (%s, %d bytes)", r.Name, shortHash(r.KeyHash), r.Role, r.Size)
}

// objectsOf returns the objects an entry references with their recorded sizes.
func objectsOf(name string, e manifest.Entry) map[cas.ID]objRef {
	refs := make(map[cas.ID]objRef, 1+len(e.Outs))
	if !e.Result.IsZero() {
		refs[e.Result] = objRef{Name: name, KeyHash: e.KeyHash, Role: "result", Size: e.Size}
	}
	for _, o := range e.Outs {
		if o.Object.IsZero() {
			continue
		}
		if _, ok := refs[o.Object]; !ok {
			refs[o.Object] = objRef{Name: name, KeyHash: e.KeyHash, Role: "out:" + o.Arg, Size: o.Size}
		}
	}
	return refs
}

// refIndex maps every referenced object to the entries that use it.
type refIndex map[cas.ID][]objRef

func buildRefs(entries map[string][]manifest.Entry) refIndex {
	idx := make(refIndex)
	for _, name := range sortedKeys(entries) {
		for _, e := range entries[name] {
			for id, r := range objectsOf(name, e) {
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

// objectRel is the path of an object relative to the cache directory.
func objectRel(id cas.ID) string {
	h := id.String()
	return "objects/" + h[:2] + "/" + h[2:]
}

// relPath makes p relative to dir when it lies inside it, for short output.
func relPath(dir, p string) string {
	if p == "" {
		return p
	}
	if !filepath.IsAbs(p) {
		return filepath.ToSlash(p)
	}
	if r, err := filepath.Rel(dir, p); err == nil && r != ".." && !startsWithDotDot(r) {
		return filepath.ToSlash(r)
	}
	return p
}

func startsWithDotDot(r string) bool {
	return len(r) >= 3 && r[:2] == ".." && os.IsPathSeparator(r[2])
}

// shortHash is the first 12 hex characters of a key hash, enough to name an
// entry for rm -key.
func shortHash(h [32]byte) string { return hex.EncodeToString(h[:6]) }
