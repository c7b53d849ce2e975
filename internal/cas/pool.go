package cas

import (
	"sync"

	"github.com/zeebo/blake3"
)

// bufSize is the copy buffer for streaming reads and writes: large enough
// that BLAKE3's 8-way SIMD path and the system calls are amortised, small
// enough that memory stays bounded whatever the object size.
const bufSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }

// A blake3.Hasher is a few KiB and costs more to set up than to hash a small
// input, so hashers are pooled and Reset.
var hasherPool = sync.Pool{New: func() any { return blake3.New() }}

func getHasher() *blake3.Hasher {
	h := hasherPool.Get().(*blake3.Hasher)
	h.Reset()
	return h
}

func putHasher(h *blake3.Hasher) { hasherPool.Put(h) }

// sum returns the ID h has computed.
func sum(h *blake3.Hasher) ID {
	var id ID
	h.Sum(id[:0])
	return id
}
