package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/pcache/pcache/internal/layout"
)

// Keys are the cross-process per-key locks of one cache: the process that
// holds a key's lock computes it, the others wait.
//
// Where the platform has open-file-description byte-range locks (Linux),
// the lock of key id is one byte of locks/keys.ofd at an offset taken from
// id (62 bits: a collision only makes one key wait for another). The file is
// opened once and kept: an uncontended lock and its unlock are one fcntl(2)
// each. A contended lock waits on a description of its own, so waiting can
// be abandoned. Elsewhere (or when the file system refuses such locks) the
// lock is a flock on locks/keys/ab/<id>.lock, created on demand and removed
// after a commit. Either kind is released by the OS when its holder dies.
type Keys struct {
	d     layout.Dir
	files bool // use flock files

	mu   sync.Mutex
	f    *os.File       // keys.ofd, kept open; nil until first use
	held map[int64]bool // offsets this Keys holds through f
}

// NewKeys returns the key locks of the cache at d. With files, they are
// flock files even where byte-range locks work (to test the portable path).
func NewKeys(d layout.Dir, files bool) *Keys {
	return &Keys{d: d, files: files || !rangeLocks, held: map[int64]bool{}}
}

// Lock takes the lock of key id, waiting while another holder computes it,
// until ctx is done. The returned unlock must be called once; committed
// says the key's entry was committed (so a lock file may go).
func (k *Keys) Lock(ctx context.Context, id [32]byte) (unlock func(committed bool), err error) {
	if !k.files {
		unlock, ok, err := k.lockRange(ctx, id)
		if ok || err != nil {
			return unlock, err
		}
	}
	path := k.d.KeyLock(id)
	h, err := Acquire(ctx, path, Exclusive)
	if err != nil {
		return nil, err
	}
	return func(committed bool) {
		if committed {
			// Anyone who takes this lock from now on finds the entry, so the
			// file can go. (Never before the commit.)
			os.Remove(path)
		}
		h.Release()
	}, nil
}

// Close closes the kept lock file (releasing any byte it still holds).
func (k *Keys) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.f == nil {
		return nil
	}
	err := k.f.Close()
	k.f = nil
	return err
}

// lockRange takes the byte-range lock of id. ok is false, with no error,
// when the file system does not support such locks (then Keys switches to
// flock files for good).
func (k *Keys) lockRange(ctx context.Context, id [32]byte) (unlock func(bool), ok bool, err error) {
	off := rangeOffset(id)
	k.mu.Lock()
	if k.f == nil {
		f, err := os.OpenFile(k.d.KeyRangeLock(), os.O_RDWR|os.O_CREATE, FileMode)
		if err != nil && os.IsNotExist(err) {
			if err = os.MkdirAll(k.d.Locks(), dirMode); err == nil {
				f, err = os.OpenFile(k.d.KeyRangeLock(), os.O_RDWR|os.O_CREATE, FileMode)
			}
		}
		if err != nil {
			k.mu.Unlock()
			return nil, false, fmt.Errorf("lock %s: %w", k.d.KeyRangeLock(), err)
		}
		k.f = f
	}
	f := k.f
	if !k.held[off] {
		err := setRange(f, off, true, false)
		switch {
		case err == nil:
			k.held[off] = true
			k.mu.Unlock()
			return func(bool) { k.unlockKept(off) }, true, nil
		case errors.Is(err, errUnsupported):
			k.files = true
			k.mu.Unlock()
			return nil, false, nil
		case !errors.Is(err, errBusy):
			k.mu.Unlock()
			return nil, false, fmt.Errorf("lock %s: %w", k.d.KeyRangeLock(), err)
		}
	}
	k.mu.Unlock()

	// Contended (by another process, or by this Keys for the same offset):
	// wait on a description of our own, which closing releases.
	own, err := os.OpenFile(k.d.KeyRangeLock(), os.O_RDWR, 0)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", k.d.KeyRangeLock(), err)
	}
	done := make(chan error, 1)
	go func() { done <- setRange(own, off, true, true) }()
	select {
	case err := <-done:
		if err != nil {
			own.Close()
			return nil, false, fmt.Errorf("lock %s: %w", k.d.KeyRangeLock(), err)
		}
		return func(bool) { own.Close() }, true, nil
	case <-ctx.Done():
		go func() { <-done; own.Close() }() // give the lock back as soon as it comes
		return nil, false, fmt.Errorf("lock %s: %w", k.d.KeyRangeLock(), ctx.Err())
	}
}

func (k *Keys) unlockKept(off int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.f != nil && k.held[off] {
		setRange(k.f, off, false, false)
	}
	delete(k.held, off)
}

// rangeOffset is the byte of keys.ofd that locks id.
func rangeOffset(id [32]byte) int64 {
	var v uint64
	for _, b := range id[:8] {
		v = v<<8 | uint64(b)
	}
	return int64(v >> 2)
}

var (
	errBusy        = errors.New("busy")
	errUnsupported = errors.New("byte-range locks unsupported")
)
