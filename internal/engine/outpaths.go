package engine

import (
	"path/filepath"
	"sync"
)

// maxOutPaths bounds the out-file paths a Store remembers; past it, lost
// contents are recomputed rather than recovered from a new path.
const maxOutPaths = 1 << 16

// outPaths is the set of out-file paths this Store's callers passed. A
// restore whose object is lost may recover the contents only from one of
// them: the paths a manifest record names are any cache writer's word, and
// reading them would let a writer learn which files with which contents
// exist elsewhere (or pull them into the cache).
type outPaths struct {
	mu sync.Mutex
	m  map[string]struct{}
}

// add remembers a path a caller passed.
func (o *outPaths) add(p string) {
	p = filepath.Clean(p)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]struct{}{}
	}
	if len(o.m) < maxOutPaths {
		o.m[p] = struct{}{}
	}
}

// has reports whether a caller of this Store passed p.
func (o *outPaths) has(p string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.m[filepath.Clean(p)]
	return ok
}
