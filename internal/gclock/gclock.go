// Package gclock is the store-wide lock that keeps garbage collection away
// from writes in flight: writers hold it shared, gc and repair exclusive.
//
// Two lock files under <root>/locks/ form a turnstile so a steady stream of
// writers cannot starve gc: a writer passes through gc.intent (shared, for an
// instant) before taking gc.lock shared; gc holds gc.intent exclusive while it
// waits for gc.lock, which stops new writers from entering.
package gclock

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/gofrs/flock"
	"github.com/pcache/pcache/internal/lockfile"
)

const (
	lockName   = "gc.lock"
	intentName = "gc.intent"
)

// Dir returns the lock directory of a cache root.
func Dir(root string) string { return filepath.Join(root, "locks") }

// Shared is a process-wide, reference-counted shared hold on a root's gc lock.
// Goroutines of one process share a single flock; the first Acquire takes it
// and the last Release drops it.
type Shared struct {
	root string
	mu   sync.Mutex
	n    int
	fl   *flock.Flock
}

// NewShared returns the shared gc lock of root. It takes no lock yet.
func NewShared(root string) *Shared { return &Shared{root: root} }

// Acquire takes (or joins) the shared hold. Every successful Acquire must be
// paired with one Release.
func (s *Shared) Acquire(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 {
		s.n++
		return nil
	}
	dir := Dir(s.root)
	intent, err := lockfile.Lock(ctx, filepath.Join(dir, intentName), true)
	if err != nil {
		return fmt.Errorf("gclock: %w", err)
	}
	fl, err := lockfile.Lock(ctx, filepath.Join(dir, lockName), true)
	intent.Unlock()
	if err != nil {
		return fmt.Errorf("gclock: %w", err)
	}
	s.fl = fl
	s.n = 1
	return nil
}

// Release drops one hold taken by Acquire.
func (s *Shared) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return
	}
	s.n--
	if s.n == 0 {
		s.fl.Unlock()
		s.fl = nil
	}
}

// Exclusive takes the gc lock exclusively (waiting for writers in flight to
// commit, and keeping new ones out) and returns the function that releases it.
func Exclusive(ctx context.Context, root string) (release func(), err error) {
	dir := Dir(root)
	intent, err := lockfile.Lock(ctx, filepath.Join(dir, intentName), false)
	if err != nil {
		return nil, fmt.Errorf("gclock: %w", err)
	}
	fl, err := lockfile.Lock(ctx, filepath.Join(dir, lockName), false)
	if err != nil {
		intent.Unlock()
		return nil, fmt.Errorf("gclock: %w", err)
	}
	return func() { fl.Unlock(); intent.Unlock() }, nil
}
