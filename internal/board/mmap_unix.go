//go:build unix

package board

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pcache/pcache/internal/fsutil"
)

type mapping struct {
	data  []byte
	words []uint64 // data as counters; only touched under a fault guard
	rw    bool
	dir   string // the board's directory: close unmaps in the background where it is local (fsutil.LocalFS)
}

// openMapping maps the board at path. The file is opened without following
// a symbolic link and without blocking on a FIFO, and must be a regular
// file; a writable board must also have no other hard link: the board is
// extended and written, so a link planted at locks/board (to another user's
// file) must never be. Anything else there means no board (always
// "changed"), never a write elsewhere.
func openMapping(path string, writable bool) (mapping, bool) {
	flag, prot := os.O_RDONLY, unix.PROT_READ
	if writable {
		flag, prot = os.O_RDWR|os.O_CREATE, unix.PROT_READ|unix.PROT_WRITE
		os.MkdirAll(filepath.Dir(path), 0o777)
	}
	f, fi, err := fsutil.OpenRegular(path, flag, 0o666)
	if err != nil {
		return mapping{}, false
	}
	defer f.Close()
	if writable && fsutil.Linked(fi) {
		return mapping{}, false
	}
	if fi.Size() < size {
		if !writable || f.Truncate(size) != nil { // racing creators truncate to the same size
			return mapping{}, false
		}
	}
	data, err := unix.Mmap(int(f.Fd()), 0, size, prot, unix.MAP_SHARED)
	if err != nil {
		return mapping{}, false
	}
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&data[0])), slots)
	return mapping{data: data, words: words, rw: writable, dir: filepath.Dir(path)}, true
}

// load and add guard against a fault: someone truncating the file under the
// mapping must cost a refresh, not the process.
func (m *mapping) load(i int) (v uint64, ok bool) {
	if m.words == nil {
		return 0, false
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			v, ok = 0, false
		}
	}()
	return atomic.LoadUint64(&m.words[i]), true
}

func (m *mapping) add(i int) {
	if m.words == nil || !m.rw {
		return
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { recover() }()
	atomic.AddUint64(&m.words[i], 1)
}

func (m *mapping) close() {
	if m.data != nil {
		data := m.data
		fsutil.Unmap(func() error { return unix.Munmap(data) }, fsutil.LocalFS(m.dir))
		m.data, m.words = nil, nil
	}
}
