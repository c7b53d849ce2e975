package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/hashsearch"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
)

// A segment file (s-<BLAKE3-256 of the file, hex>.pcs) is immutable:
//
//	header   CBOR map {format: "pcache-segment", version: 1, digest: "blake3-256", name, count}
//	records  count framed records (see frame.go) sorted by KeyHash, one per key
//	index    CBOR byte string of count×40 bytes: per record its KeyHash
//	         (32 bytes) and the big-endian uint64 file offset of its frame
//	trailer  9 bytes: 0x1b + big-endian uint64 offset of the index item
//
// The whole file is a CBOR sequence. The trailer is a CBOR uint written on
// purpose in the 8-byte argument form (not shortest form) so it has a fixed
// size and a reader finds the index from the end of the file.

const (
	indexEntrySize = 40
	trailerSize    = 9
	// smallSegment: segments up to this size are read into memory instead of
	// mapped.
	smallSegment = 64 << 10
)

// errBadSegment is wrapped by errors about a damaged segment structure.
var errBadSegment = errors.New("bad segment")

// useMmap can be cleared by tests to exercise the ReadAt path.
var useMmap = fsutil.CanMap

type segment struct {
	name, path string
	fi         os.FileInfo
	data       []byte       // the whole file (mapped or read), or nil: read through f
	f          *os.File     // when data == nil
	unmap      func() error // when data is mapped
	unmapLater atomic.Bool  // the last release unmaps in the background (the Manifest closed)
	count      int
	dataStart  int64  // first record (end of the header)
	indexOff   int64  // the index item (end of the records)
	indexStart int64  // first index entry
	index      []byte // the index entries when data != nil
	refs       atomic.Int32
	filter     atomic.Pointer[bloom] // set once built (see bloom.go)
	// builders, set when a view installs the segment, counts the filter
	// builder its lookups start (counted); nil: none is started.
	builders      *sync.WaitGroup
	lookups       atomic.Int32 // lookups answered without a filter
	filterStarted atomic.Bool
}

// openSegment opens and validates the frame of a segment: trailer, index
// item and header. Records are checked as they are read. A missing file
// returns errVanished.
func openSegment(dir, name string) (*segment, error) {
	path := dir + string(os.PathSeparator) + name
	f, fi, err := fsutil.OpenRegular(path, os.O_RDONLY, 0)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, errVanished
		case errors.Is(err, fsutil.ErrNotRegular):
			return nil, fmt.Errorf("manifest: segment %s: %w: %v", path, errBadSegment, err)
		}
		return nil, err
	}
	if fsutil.Hollow(fi) {
		// A sparse file: its trailer and index are holes, or lies. Refused
		// before anything of it is read (hashing or scanning 1 TiB of
		// holes would hang the reader).
		f.Close()
		return nil, fmt.Errorf("manifest: segment %s: %w: a sparse file (%d bytes, few of them allocated)", path, errBadSegment, fi.Size())
	}
	s := &segment{name: name, path: path, fi: fi}
	s.refs.Store(1)
	size := fi.Size()
	switch {
	case size <= smallSegment:
		s.data = make([]byte, size)
		if _, err := io.ReadFull(f, s.data); err != nil {
			f.Close()
			return nil, fmt.Errorf("manifest: read %s: %w", path, err)
		}
		f.Close()
	case useMmap && size <= math.MaxInt:
		data, unmap, err := fsutil.Map(f, size)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("manifest: mmap %s: %w", path, err)
		}
		s.data, s.unmap = data, unmap
	default:
		s.f = f
	}
	if err := s.validate(size); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *segment) validate(size int64) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("manifest: segment %s: %w: %s", s.path, errBadSegment, fmt.Sprintf(format, args...))
	}
	if size < trailerSize+1 {
		return bad("%d bytes is too short", size)
	}
	t, err := s.read(size-trailerSize, trailerSize)
	if err != nil {
		return err
	}
	if t[0] != record.MajorUint<<5|27 {
		return bad("no trailer")
	}
	idx := binary.BigEndian.Uint64(t[1:])
	if idx >= uint64(size-trailerSize) {
		return bad("index offset %d out of range", idx)
	}
	s.indexOff = int64(idx)
	hb, err := s.read(s.indexOff, min(9, size-trailerSize-s.indexOff))
	if err != nil {
		return err
	}
	major, l, hn, _, err := record.ReadHead(hb)
	if err != nil || major != record.MajorBytes {
		return bad("no index at offset %d", idx)
	}
	s.indexStart = s.indexOff + int64(hn)
	if l != uint64(size-trailerSize-s.indexStart) || l%indexEntrySize != 0 {
		return bad("index length %d does not fit the file", l)
	}
	s.count = int(l / indexEntrySize)
	hdr, err := s.read(0, min(record.MaxHeader, s.indexOff))
	if err != nil {
		return err
	}
	h, n, err := record.ParseHeader(hdr, record.SegmentFormat)
	if errors.Is(err, record.ErrUnknownVersion) && !s.hashesToName(size) {
		// A newer pcache's segment still hashes to its name; this one was
		// damaged (a flipped version byte must not stop every reader).
		return bad("damaged header (%v), and the content does not hash to the file's name", err)
	}
	if err != nil {
		return fmt.Errorf("manifest: segment %s: %w", s.path, err)
	}
	if h.Count == nil || *h.Count != uint64(s.count) {
		return bad("header count does not match the index (%d entries)", s.count)
	}
	s.dataStart = int64(n)
	if s.data != nil {
		s.index = s.data[s.indexStart : s.indexStart+int64(l)]
	}
	return nil
}

// hashesToName reports whether the segment's size bytes hash to its file
// name. Readers do not hash segments (that is Check's job); this is for the
// rare header that needs telling a newer format from damage.
func (s *segment) hashesToName(size int64) bool {
	h := blake3.New()
	if s.data != nil {
		h.Write(s.data[:size])
	} else if _, err := io.Copy(h, io.NewSectionReader(s.f, 0, size)); err != nil {
		return false
	}
	return layout.SegmentName(h.Sum(nil)) == filepath.Base(s.path)
}

// read returns n bytes at off; they alias the mapping when there is one.
func (s *segment) read(off, n int64) ([]byte, error) {
	if s.data != nil {
		if off < 0 || n < 0 || off+n > int64(len(s.data)) {
			return nil, fmt.Errorf("manifest: segment %s: %w: read past the end", s.path, errBadSegment)
		}
		return s.data[off : off+n : off+n], nil
	}
	b := make([]byte, n)
	if _, err := s.f.ReadAt(b, off); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: read past the end", errBadSegment)
		}
		return nil, fmt.Errorf("manifest: segment %s: %w", s.path, err)
	}
	return b, nil
}

// entry returns index entry i: its key and record offset.
func (s *segment) entry(i int) (key []byte, off int64, err error) {
	var e []byte
	if s.index != nil {
		e = s.index[i*indexEntrySize : (i+1)*indexEntrySize]
	} else if e, err = s.read(s.indexStart+int64(i)*indexEntrySize, indexEntrySize); err != nil {
		return nil, 0, err
	}
	return e[:32], int64(binary.BigEndian.Uint64(e[32:])), nil
}

// search finds key h in the index (see package hashsearch), through the
// fence f once the filter's build made one.
func (s *segment) search(h *record.KeyHash, f *bloom) (int, bool, error) {
	key := func(i int) ([]byte, error) {
		key, _, err := s.entry(i)
		return key, err
	}
	if f != nil && f.fence != nil {
		return f.fence.Search(h[:], key)
	}
	return hashsearch.Search(s.count, h[:], key)
}

// payloadAt reads and checks (framing and checksum) the record of index
// entry i, and returns its payload (aliasing a mapping) and offset. Damage
// returns an error wrapping errBadSegment or errBadChecksum.
func (s *segment) payloadAt(i int) (payload []byte, off int64, err error) {
	_, off, err = s.entry(i)
	if err != nil {
		return nil, 0, err
	}
	if off < s.dataStart || off >= s.indexOff {
		return nil, off, fmt.Errorf("%w: index entry %d points outside the records (offset %d)", errBadSegment, i, off)
	}
	var b []byte
	limit := s.indexOff - off
	if s.data != nil {
		b, _ = s.read(off, limit)
	} else {
		// Read a small prefix, then exactly the frame if it is longer.
		if b, err = s.read(off, min(limit, 4096)); err != nil {
			return nil, off, err
		}
		if _, l, hn, _, err := record.ReadHead(b[min(1, len(b)):]); err == nil && uint64(1+hn)+l+9 > uint64(len(b)) && l <= record.MaxRecord {
			if b, err = s.read(off, min(limit, int64(1+hn)+int64(l)+9)); err != nil {
				return nil, off, err
			}
		}
	}
	f, err := record.ParseFrame(b)
	if err != nil {
		return nil, off, fmt.Errorf("%w: record at offset %d: %v", errBadSegment, off, err)
	}
	if !f.CRCOK {
		return nil, off, fmt.Errorf("%w at offset %d", errBadChecksum, off)
	}
	return f.Payload, off, nil
}

// decodeChecked decodes a segment record's payload into e and checks that it
// is the record of key want.
func decodeChecked(payload, want []byte, off int64, e *record.Entry) error {
	if err := record.Decode(payload, e); err != nil {
		return fmt.Errorf("record at offset %d: %w", off, err)
	}
	if !bytes.Equal(e.KeyHash[:], want) {
		return fmt.Errorf("%w: record at offset %d has key %s, not the one its index entry names", errBadSegment, off, record.Short(&e.KeyHash))
	}
	return nil
}

var errBadChecksum = errors.New("record checksum mismatch")

// lookup finds the record for h and decodes it into r. Damage is an error
// (the caller reports it and treats it as a miss). r.raw aliases the segment.
func (s *segment) lookup(h *record.KeyHash, r *rec) (found bool, err error) {
	f := s.filter.Load()
	if f != nil {
		if !f.mayContain(h) {
			return false, nil
		}
	} else {
		s.counted()
	}
	if s.unmap != nil {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer s.guard(&err)
	}
	i, ok, err := s.search(h, f)
	if !ok || err != nil {
		return false, err
	}
	p, off, err := s.payloadAt(i)
	if err != nil {
		return false, err
	}
	if err := decodeChecked(p, h[:], off, &r.e); err != nil {
		return false, err
	}
	r.raw = p
	return true, nil
}

// guard turns a fault on the mapping into an error: if someone truncates a
// mapped file in place (segments are never modified, but a user or a tool
// might), touching the lost pages raises SIGBUS, which must not crash the
// program. Every method that reads a mapping defers it after arming
// debug.SetPanicOnFault.
func (s *segment) guard(err *error) {
	if p := recover(); p != nil {
		if re, ok := p.(interface{ Addr() uintptr }); ok && s.unmap != nil {
			*err = fmt.Errorf("manifest: segment %s: %w: memory fault (file truncated while in use?): %v", s.path, errBadSegment, re)
			return
		}
		panic(p)
	}
}

func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference; the last one unmaps and closes.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.close()
	}
}

func (s *segment) close() error {
	var err error
	if s.unmap != nil {
		err = fsutil.Unmap(s.unmap, s.unmapLater.Load())
		s.unmap = nil
	}
	if s.f != nil {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
	}
	s.data, s.index, s.f = nil, nil, nil
	return err
}
