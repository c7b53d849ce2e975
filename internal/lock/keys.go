package lock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/pcache/pcache/internal/fsutil"
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

	mu    sync.Mutex
	f     *os.File       // keys.ofd, kept open; nil until first use
	held  map[int64]bool // offsets this Keys holds through f
	wait  time.Duration  // limit of one wait (KeyWait unless SetWait)
	stuck time.Time      // until then, a wait ran out recently: only try, never wait
}

// SetWait sets how long Lock waits for another holder of a key before it
// fails with a *TimeoutError (default KeyWait; the caller then computes
// without the lock). After a wait runs out, Locks during the next such
// period only try, so a lock held forever (every key of keys.ofd locked by
// a hung or hostile process) costs one call the wait and the others
// nothing.
func (k *Keys) SetWait(d time.Duration) {
	k.mu.Lock()
	k.wait = d
	k.mu.Unlock()
}

// limit returns the time a wait may take now; tryOnly says not to wait.
func (k *Keys) limit() (limit time.Duration, tryOnly bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.wait, time.Now().Before(k.stuck)
}

// ranOut notes a wait that ran out of its limit.
func (k *Keys) ranOut(err error) {
	if errors.Is(err, ErrTimeout) {
		k.mu.Lock()
		k.stuck = time.Now().Add(k.wait)
		k.mu.Unlock()
	}
}

// NewKeys returns the key locks of the cache at d. With files, they are
// flock files even where byte-range locks work (to test the portable path).
func NewKeys(d layout.Dir, files bool) *Keys {
	return &Keys{d: d, files: files || !rangeLocks, held: map[int64]bool{}, wait: KeyWait}
}

// Lock takes the lock of key id, waiting while another holder computes it,
// until ctx is done or the wait limit (SetWait) passes: then the error is a
// *TimeoutError naming the holder when the system says. The returned unlock must be called once; committed
// says the key's entry was committed (so a lock file may go).
func (k *Keys) Lock(ctx context.Context, id [32]byte) (unlock func(committed bool), err error) {
	if !k.files {
		unlock, ok, err := k.lockRange(ctx, id)
		if ok || err != nil {
			return unlock, err
		}
	}
	path := k.d.KeyLock(id)
	var h *Held
	if limit, tryOnly := k.limit(); tryOnly {
		h, err = TryOrBusy(path, Exclusive)
	} else {
		h, err = AcquireWithin(ctx, path, Exclusive, limit)
		k.ranOut(err)
	}
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

// openRange opens keys.ofd (creating it and locks/) as a regular file,
// never through a symbolic link or into a FIFO.
func (k *Keys) openRange() (*os.File, error) {
	open := func() (*os.File, error) {
		f, _, err := fsutil.OpenRegular(k.d.KeyRangeLock(), os.O_RDWR|os.O_CREATE, FileMode)
		return f, err
	}
	f, err := open()
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(k.d.Locks(), dirMode); err == nil {
			f, err = open()
		}
	}
	return f, err
}

// lockRange takes the byte-range lock of id. ok is false, with no error,
// when the file system does not support such locks, or keys.ofd is not a
// regular file (something planted there: a directory, a FIFO, a symbolic
// link); then Keys switches to flock files for good.
func (k *Keys) lockRange(ctx context.Context, id [32]byte) (unlock func(bool), ok bool, err error) {
	off := rangeOffset(id)
	k.mu.Lock()
	if k.f == nil {
		f, err := k.openRange()
		if errors.Is(err, fsutil.ErrNotRegular) {
			k.files = true
			k.mu.Unlock()
			return nil, false, nil
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
	// wait on a description of our own, which closing releases. It must be
	// the file the kept descriptor has (not something swapped in since).
	path := k.d.KeyRangeLock()
	own, fi, err := fsutil.OpenRegular(path, os.O_RDWR, 0)
	if err == nil {
		if kept, serr := k.f.Stat(); serr != nil || !os.SameFile(fi, kept) {
			own.Close()
			err = fmt.Errorf("replaced since it was opened")
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	limit, tryOnly := k.limit()
	if tryOnly {
		holder := holderOf(own, off)
		own.Close()
		return nil, false, &TimeoutError{Path: path, Holder: holder}
	}
	block := func() error {
		if err := setRange(own, off, true, true); err != nil {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		return nil
	}
	err = waitFor(ctx, limit, block, func() { own.Close() }, func(waited time.Duration, cerr error) error {
		if cerr != nil {
			return fmt.Errorf("lock %s (held by %s): %w", path, orUnknown(holderOf(own, off)), cerr)
		}
		return &TimeoutError{Path: fmt.Sprintf("%s (byte %d)", path, off), Waited: waited, Holder: holderOf(own, off)}
	})
	if err != nil {
		k.ranOut(err)
		return nil, false, err
	}
	return func(bool) { own.Close() }, true, nil
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
