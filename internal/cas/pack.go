package cas

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sync/atomic"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/hashsearch"
)

// A pack holds small objects back to back, appended by one writer:
//
//	header   16 bytes: "pcache-pack" 0x00 0x00 0x00 0x00, then the format version (1)
//	records  one per object: tag 0xa5, the object's ID (32 bytes), its size
//	         (uint32, little-endian), its bytes
//
// A writer only appends, and references an object from a manifest only after
// its record is written, so a crash leaves at most a torn last record, which
// readers ignore. Nothing in a record is trusted: a reader hashes the bytes
// against the ID every time it hands them out, so damage anywhere in a pack
// is a miss, never a wrong value. Damage to a size field cuts a reader's
// scan of an unsealed pack short (the objects after it are then misses);
// readers of a sealed pack go by its index. Maintenance (check, repair,
// repack) reads the union of the index and a scan that resyncs after
// damage (scanResync), so a damaged record costs that record only.
//
// When its writer is done (at Close, or when the pack reaches maxPack), the
// pack is sealed: an index file beside it lists every object sorted by ID:
//
//	header   16 bytes: "pcache-pidx" 0x00 0x00 0x00 0x00, then the format version (1)
//	         the pack's size covered (uint64), the BLAKE3-256 of those bytes
//	         (32), the entry count (uint64)
//	entries  count × 44 bytes: ID (32), record offset (uint64), size (uint32)
//	trailer  the BLAKE3-256 of everything before it (32)
//
// so a reader maps it and searches it in place instead of scanning the
// pack. Index files are written to a temp file and renamed into place; a
// sealed pack is never written again. Names are the writer's unique name
// (layout.PackName), so copying caches into each other keeps every pack.

const (
	packVersion   = 1
	headerSize    = 16
	recHeaderSize = 1 + 32 + 4
	recTag        = 0xa5
	idxEntrySize  = 44
	idxFixed      = headerSize + 8 + 32 + 8
	idxTrailer    = 32
)

var (
	packMagic = [headerSize]byte{'p', 'c', 'a', 'c', 'h', 'e', '-', 'p', 'a', 'c', 'k', 0, 0, 0, 0, packVersion}
	idxMagic  = [headerSize]byte{'p', 'c', 'a', 'c', 'h', 'e', '-', 'p', 'i', 'd', 'x', 0, 0, 0, 0, packVersion}
)

// errBadPack is wrapped by errors about damaged pack structure.
var errBadPack = errors.New("bad pack")

// pack is one pack file as this process sees it: a read-only mapping of it
// and, once sealed, of its index.
type pack struct {
	name, path string
	fi         os.FileInfo // identity when opened
	data       []byte      // mapping; its length may exceed size (the writer's own pack)
	unmap      func() error
	size       atomic.Int64 // bytes known to hold complete records
	idx        []byte       // index entries when sealed (aliases idxData)
	idxData    []byte
	idxUnmap   func() error
	idxSum     atomic.Bool // the index was hashed against its trailer (readers do it lazily: checkIndexes)
	refs       atomic.Int32
	unmapLater atomic.Bool // the last release unmaps in the background (the Store closed)

	// The index's fence, once built (fence.go).
	fence        atomic.Pointer[hashsearch.Fence]
	finds        atomic.Int32 // finds searched without a fence
	fenceStarted atomic.Bool
}

// sealed reports whether the pack has an index.
func (p *pack) sealed() bool { return p.idx != nil }

func (p *pack) acquire() { p.refs.Add(1) }

// release drops a reference; the last one unmaps.
func (p *pack) release() {
	if p.refs.Add(-1) == 0 {
		later := p.unmapLater.Load()
		if p.unmap != nil {
			fsutil.Unmap(p.unmap, later)
		}
		if p.idxUnmap != nil {
			fsutil.Unmap(p.idxUnmap, later)
		}
		p.data, p.idx, p.idxData = nil, nil, nil
	}
}

// loc is where an object is in a pack.
type loc struct {
	p    *pack
	off  int64 // the record's offset
	size uint32
}

// guard turns a memory fault on a mapping (a pack truncated or replaced in
// place under the mapping) into an error; every read of a mapping defers it
// after debug.SetPanicOnFault(true).
func guard(err *error) {
	if r := recover(); r != nil {
		if _, ok := r.(interface{ Addr() uintptr }); ok {
			*err = fmt.Errorf("%w: memory fault reading a pack (file truncated while in use?): %v", errBadPack, r)
			return
		}
		panic(r)
	}
}

// view calls fn with the bytes of the object at l after checking, against
// what the pack's file held when it was last looked at, that the record is
// inside it, names id, has the size, and hashes to id. fn must not keep the
// slice: it aliases the mapping.
func (l loc) view(id ID, fn func([]byte) error) (err error) {
	p := l.p
	end := l.off + recHeaderSize + int64(l.size)
	if l.off < headerSize || end > p.size.Load() || end > int64(len(p.data)) {
		return corrupt(id, p.path, fmt.Sprintf("record at offset %d is past the end of the pack (%d bytes)", l.off, p.size.Load()))
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(&err)
	rec := p.data[l.off:end:end]
	if rec[0] != recTag || !bytes.Equal(rec[1:33], id[:]) || binary.LittleEndian.Uint32(rec[33:37]) != l.size {
		return corrupt(id, p.path, fmt.Sprintf("no record of this object at offset %d", l.off))
	}
	b := rec[recHeaderSize:]
	if got := Sum(b); got != id {
		return corrupt(id, p.path, fmt.Sprintf("hash mismatch at offset %d: content hashes to %s", l.off, got))
	}
	return fn(b)
}

// scanRecords reads the records of data[from:to] (a pack's bytes) and calls
// add for each complete one. It returns the offset after the last record
// read; a record that does not start with the tag, or whose size runs past
// to, ends the scan there, and so does add returning false (after that
// record: bounded scans).
func scanRecords(data []byte, from, to int64, add func(id ID, off int64, size uint32) bool) (end int64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(&err)
	off := from
	for off+recHeaderSize <= to {
		if data[off] != recTag {
			break
		}
		size := binary.LittleEndian.Uint32(data[off+33 : off+37])
		next := off + recHeaderSize + int64(size)
		if next > to || next < off {
			break
		}
		more := add(ID(data[off+1:off+33]), off, size)
		off = next
		if !more {
			break
		}
	}
	return off, nil
}

// appendRecord appends the record of object id with bytes b to buf.
func appendRecord(buf []byte, id ID, b []byte) []byte {
	buf = append(buf, recTag)
	buf = append(buf, id[:]...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(b)))
	return append(buf, b...)
}

// idxEntry is one entry of a pack index.
type idxEntry struct {
	id   ID
	off  int64
	size uint32
}

// idxEntries are the index entries of a pack being written, in the order
// written, kept in chunks: a pack of 2^18 small objects is never copied to
// grow (a slice grown by append copied its entries over and over, onto
// fresh pages: a sixth of a batch miss's time).
type idxEntries struct {
	chunks [][]idxEntry
	n      int
}

// idxChunk is the most entries a chunk holds (192 KiB); smaller packs
// have chunks of 64, 64, 128, … entries, doubling up to it.
const idxChunk = 4096

func (e *idxEntries) add(x idxEntry) {
	if k := len(e.chunks); k == 0 || len(e.chunks[k-1]) == cap(e.chunks[k-1]) {
		e.chunks = append(e.chunks, make([]idxEntry, 0, min(idxChunk, max(64, e.n))))
	}
	last := &e.chunks[len(e.chunks)-1]
	*last = append(*last, x)
	e.n++
}

// sorted returns the entries in one slice, sorted by ID.
func (e *idxEntries) sorted() []idxEntry {
	out := make([]idxEntry, 0, e.n)
	for _, c := range e.chunks {
		out = append(out, c...)
	}
	slices.SortFunc(out, func(a, b idxEntry) int { return bytes.Compare(a.id[:], b.id[:]) })
	return out
}

// encodeIndex builds the index file of a pack of size bytes hashing to sum.
// entries must be sorted by ID.
func encodeIndex(size int64, sum ID, entries []idxEntry) []byte {
	b := make([]byte, 0, idxFixed+len(entries)*idxEntrySize+idxTrailer)
	b = append(b, idxMagic[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(size))
	b = append(b, sum[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(entries)))
	for _, e := range entries {
		b = append(b, e.id[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(e.off))
		b = binary.BigEndian.AppendUint32(b, e.size)
	}
	t := Sum(b)
	return append(b, t[:]...)
}

// parseIndex checks an index file's frame and returns what it covers and its
// entries (aliasing b). With checkSum the whole index is hashed against its
// trailer. Readers open indexes without (hashing a million entries' index
// would cost a fresh process tens of milliseconds before its first hit):
// every read checks the record an index leads to (tag, ID, size, then the
// bytes' hash), and a lookup an index cannot answer has the indexes
// checked then (packSet.checkIndexes), so a damaged one is replaced by a
// scan of its pack before anything is reported missing.
func parseIndex(b []byte, checkSum bool) (size int64, sum ID, entries []byte, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(&err)
	bad := func(why string) error { return fmt.Errorf("%w: index %s", errBadPack, why) }
	if len(b) < idxFixed+idxTrailer {
		return 0, ID{}, nil, bad("too short")
	}
	if !bytes.Equal(b[:headerSize], idxMagic[:]) {
		if bytes.Equal(b[:headerSize-1], idxMagic[:headerSize-1]) {
			return 0, ID{}, nil, bad(fmt.Sprintf("of format version %d (this pcache reads %d; upgrade pcache)", b[headerSize-1], packVersion))
		}
		return 0, ID{}, nil, bad("has no header")
	}
	size = int64(binary.BigEndian.Uint64(b[16:24]))
	copy(sum[:], b[24:56])
	n := binary.BigEndian.Uint64(b[56:64])
	body := len(b) - idxFixed - idxTrailer
	if size < headerSize || n != uint64(body/idxEntrySize) || body%idxEntrySize != 0 {
		return 0, ID{}, nil, bad("entry count does not fit the file")
	}
	if checkSum && Sum(b[:len(b)-idxTrailer]) != ID(b[len(b)-idxTrailer:]) {
		return 0, ID{}, nil, bad("checksum mismatch")
	}
	return size, sum, b[idxFixed : len(b)-idxTrailer], nil
}

// indexCovers returns the pack size an index's header claims to cover,
// without checking the index.
func indexCovers(b []byte) (size int64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(&err)
	if len(b) < idxFixed {
		return 0, fmt.Errorf("%w: index too short", errBadPack)
	}
	return int64(binary.BigEndian.Uint64(b[16:24])), nil
}

// searchIndex finds id in sorted index entries (see package hashsearch).
func searchIndex(idx []byte, id *ID) (off int64, size uint32, ok bool) {
	i, found, _ := hashsearch.Search(len(idx)/idxEntrySize, id[:], func(i int) ([]byte, error) {
		return idx[i*idxEntrySize : i*idxEntrySize+32], nil
	})
	if !found {
		return 0, 0, false
	}
	return entryAt(idx, i)
}

// entryAt returns the record offset and size of index entry i.
func entryAt(idx []byte, i int) (off int64, size uint32, ok bool) {
	e := idx[i*idxEntrySize : (i+1)*idxEntrySize]
	return int64(binary.BigEndian.Uint64(e[32:40])), binary.BigEndian.Uint32(e[40:44]), true
}

// resync finds the first record at or after from that hashes to its ID
// and returns its offset: after damage (a flipped size field, garbage
// bytes), the records behind it are found again instead of lost. Only a
// record that verifies counts, so garbage that merely looks like a record
// header is passed over; a candidate must also end at to or where another
// record's tag starts (a cheap test that saves hashing most false starts).
// Hashing candidates spends *budget bytes at most: a planted file of
// record-shaped garbage costs a bounded scan, never a quadratic one.
func resync(data []byte, from, to int64, budget *int64) (at int64, ok bool, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard(&err)
	for q := from; q+recHeaderSize <= to; q++ {
		i := bytes.IndexByte(data[q:to], recTag)
		if i < 0 {
			break
		}
		q += int64(i)
		if q+recHeaderSize > to {
			break
		}
		next := q + recHeaderSize + int64(binary.LittleEndian.Uint32(data[q+33:q+37]))
		if next > to || next < q || next < to && data[next] != recTag {
			continue
		}
		if *budget -= next - q; *budget < 0 {
			break
		}
		if Sum(data[q+recHeaderSize:next]) == ID(data[q+1:q+33]) {
			return q, true, nil
		}
	}
	return 0, false, nil
}

// scanResync reads every record of data[from:to] it can find: in order,
// and after a structural break it resyncs (see resync) from just after
// the start of the last record read, which may be the damaged one (a
// flipped size field sends the scan into the middle of later records). It
// returns the offset after the last record read and the byte ranges it
// had to skip.
func scanResync(data []byte, from, to int64, add func(id ID, off int64, size uint32)) (end int64, gaps [][2]int64, err error) {
	off := from
	budget := 4*(to-from) + 1<<20
	for {
		last := int64(-1)
		end, err = scanRecords(data, off, to, func(id ID, o int64, size uint32) bool {
			add(id, o, size)
			last = o
			return true
		})
		if err != nil || end >= to {
			return end, gaps, err
		}
		start := off + 1 // the record at off itself is bad
		if last >= 0 {
			start = last + 1 // the last record read may be the damaged one
		}
		next, ok, rerr := resync(data, start, to, &budget)
		if rerr != nil || !ok {
			return end, gaps, rerr
		}
		if next < end {
			// A record inside what the scan took for the last record's
			// bytes: that record's size field is damaged.
			gaps = append(gaps, [2]int64{last, next})
		} else {
			gaps = append(gaps, [2]int64{end, next})
		}
		off = next
	}
}
