package keying

import (
	"errors"
	"io"
	"reflect"
	"sync"

	"github.com/zeebo/blake3"
)

const (
	flushSize      = 64 << 10 // a streaming encoder hands its buffer on at this size
	largeWrite     = 4 << 10  // payloads at least this big bypass the buffer when streaming
	maxDepth       = 10000    // deepest nesting keyed (pointers, containers, CacheKey calls)
	cycleCheckFrom = 1000     // pointer-cycle tracking starts at this depth
)

// encoder writes the canonical encoding of values. While w is nil the bytes
// accumulate in buf; once buf would pass limit (when limit > 0 and spill is
// set) the encoder switches to streaming: buf is written to spill, which
// becomes w, and from then on buf only batches small items.
type encoder struct {
	buf   []byte
	w     io.Writer
	spill io.Writer
	limit int

	depth   int
	instant bool                 // key every time.Time by its instant alone (InstantArg)
	seen    map[seenKey]struct{} // containers on the current path, from depth cycleCheckFrom on
	scratch []byte               // chunk buffer for converted typed arrays
	lh      lazyHasher           // spill target of Sum and Plan.Key
}

// lazyHasher is a BLAKE3 hasher taken from a pool on first write, so that
// small encodings, hashed in one go with blake3.Sum256, never touch it.
type lazyHasher struct{ h *blake3.Hasher }

func (l *lazyHasher) Write(p []byte) (int, error) {
	if l.h == nil {
		l.h = hasherPool.Get().(*blake3.Hasher)
	}
	return l.h.Write(p)
}

// sum hashes the encoder's output: buf alone when it never spilled,
// otherwise what the hasher received plus the rest of buf.
func (e *encoder) sum() (sum [32]byte, err error) {
	if e.w == nil {
		return blake3.Sum256(e.buf), nil
	}
	if err := e.flush(); err != nil {
		return sum, err
	}
	e.lh.h.Sum(sum[:0])
	return sum, nil
}

var hasherPool = sync.Pool{New: func() any { return blake3.New() }}

// seenKey identifies a pointer, map or slice on the current path.
type seenKey struct {
	ptr uintptr
	n   int
	t   reflect.Type
}

var encPool = sync.Pool{New: func() any { return new(encoder) }}

func getEncoder() *encoder { return encPool.Get().(*encoder) }

func putEncoder(e *encoder) {
	if cap(e.buf) > 1<<20 {
		e.buf = nil
	}
	e.buf = e.buf[:0]
	e.w, e.spill, e.limit, e.depth, e.seen, e.instant = nil, nil, 0, 0, nil, false
	if e.lh.h != nil {
		e.lh.h.Reset()
		hasherPool.Put(e.lh.h)
		e.lh.h = nil
	}
	encPool.Put(e)
}

// check is called between items: it flushes a streaming encoder's buffer, or
// spills an in-memory one that passed its limit.
func (e *encoder) check() error {
	if e.w != nil {
		if len(e.buf) >= flushSize {
			return e.flush()
		}
		return nil
	}
	if e.limit > 0 && len(e.buf) > e.limit && e.spill != nil {
		e.w = e.spill
		return e.flush()
	}
	return nil
}

func (e *encoder) flush() error {
	if len(e.buf) == 0 {
		return nil
	}
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

// writeLarge writes a payload that may be big (a string, byte string or
// typed-array chunk) without copying it into buf when streaming.
func (e *encoder) writeLarge(p []byte) error {
	if e.w == nil {
		if e.limit > 0 && e.spill != nil && len(e.buf)+len(p) > e.limit {
			e.w = e.spill
		} else {
			e.buf = append(e.buf, p...)
			return nil
		}
	}
	if len(p) < largeWrite {
		e.buf = append(e.buf, p...)
		return e.check()
	}
	if err := e.flush(); err != nil {
		return err
	}
	_, err := e.w.Write(p)
	return err
}

// enter records one more level of nesting; key is the container entered
// (zero for levels that cannot close a cycle).
func (e *encoder) enter(t reflect.Type) error {
	e.depth++
	if e.depth > maxDepth {
		return newWalkErr(t, "value nested more than 10000 levels deep (a CacheKey method that returns its receiver?)", nil)
	}
	return nil
}

// enterRef is enter for a pointer, map or slice: deep in the value it also
// tracks the container, so a cycle is reported instead of recursing forever.
func (e *encoder) enterRef(t reflect.Type, ptr uintptr, n int) (tracked bool, err error) {
	if err := e.enter(t); err != nil {
		return false, err
	}
	if e.depth < cycleCheckFrom {
		return false, nil
	}
	if e.seen == nil {
		e.seen = map[seenKey]struct{}{}
	}
	k := seenKey{ptr, n, t}
	if _, ok := e.seen[k]; ok {
		return false, newWalkErr(t, "pointer cycle: the value contains itself", nil)
	}
	e.seen[k] = struct{}{}
	return true, nil
}

func (e *encoder) leaveRef(t reflect.Type, ptr uintptr, n int, tracked bool) {
	e.depth--
	if tracked {
		delete(e.seen, seenKey{ptr, n, t})
	}
}

// errWriter is a spill target that fails every write; it bounds the work of
// an encoding that is only compared against a known, short encoding.
type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

var (
	errMismatch              = errors.New("keying: encodings differ")
	mismatchWriter io.Writer = errWriter{errMismatch} // boxed once: no allocation per comparison
)

// encodesAs reports whether v (of info ti) encodes exactly as want. The work
// is bounded by len(want): a longer encoding is abandoned as soon as it
// passes that length.
func encodesAs(v reflect.Value, ti *typeInfo, want []byte, depth int, instant bool) (bool, error) {
	c := getEncoder()
	defer putEncoder(c)
	c.limit = len(want)
	if c.limit == 0 {
		c.limit = 1
	}
	c.spill = mismatchWriter
	c.depth, c.instant = depth, instant
	err := c.value(v, ti)
	if err == errMismatch {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return string(c.buf) == string(want), nil
}
