package cas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/pcache/pcache/internal/layout"
)

// Compressed loose objects.
//
// A loose object may be stored compressed, as objects/ab/<62 hex>.zst: one
// zstd frame (RFC 8878) whose decompressed bytes hash to the object's ID
// (so an object's ID never depends on how it is stored, and dedup, keys
// and `zstd -dc FILE | b3sum` by hand keep working), with the decompressed
// size in its header (Frame_Content_Size: a reader knows the size before
// it decodes, and refuses a frame that claims another). The file's name,
// never its content, says it is compressed: a raw object may begin with
// zstd's magic number (users cache .zst files). Readers look for the raw
// file first, so a hit on a raw object costs no system call more than it
// did before compression existed; a compressed hit costs one failed open.
//
// Only loose objects are compressed: objects below the pack limit live in
// packs raw, where a hit is a mapped read with no system call and no
// decoding, and where they are small enough that compressing them one by
// one would save little. The first compressed write raises the cache's
// marker to layout.CompressedVersion, which earlier releases refuse.

// Compression is how Put stores a loose object: NoCompression (raw), or
// the zstd level (1 to 22, as the zstd command line counts them) to
// compress it at when that pays (see compressible).
type Compression int

const (
	// NoCompression stores objects raw.
	NoCompression Compression = 0
	// DefaultCompression is zstd's default level (3).
	DefaultCompression Compression = 3
	// MaxCompression is zstd's highest level.
	MaxCompression Compression = 22
)

// level is the encoder level c maps to.
func (c Compression) level() zstd.EncoderLevel { return zstd.EncoderLevelFromZstd(int(c)) }

const (
	// minCompress is the smallest object worth compressing (a zstd frame
	// costs a dozen bytes and an open more on every hit).
	minCompress = 4 << 10
	// sampleSize is how much of an object compressible tries: from its
	// start, and as much from its middle.
	sampleSize = 32 << 10
	// maxWindow bounds the zstd window the encoder uses and the decoder
	// accepts: what a decoder allocates for a frame, whatever it claims.
	maxWindow = 8 << 20
	// maxRatio is the most a valid zstd frame can expand: a block of at
	// most 128 KiB takes at least 4 bytes (a 3-byte header and one byte
	// repeated). A frame whose header claims more than this times its
	// file's size is damage, refused before anything is allocated for it.
	maxRatio = 128 << 10 / 4
	// zchunk is how much is decoded (and hashed) or encoded at a time.
	zchunk = 1 << 20
)

// worth reports whether n compressed bytes for size raw ones pay for the
// decoding on every hit: at least 1/8 smaller.
func worth(n, size int64) bool { return n <= size-size/8 }

// compressible samples b (its start and its middle) and reports whether
// compressing it pays: incompressible data (already compressed, random,
// encrypted) is stored raw after a few microseconds of trying.
func compressible(b []byte) bool {
	if len(b) < minCompress {
		return false
	}
	enc := getEncoder(zstd.SpeedFastest)
	defer putEncoder(zstd.SpeedFastest, enc)
	bp := getBuf()
	defer putBuf(bp)
	var in, out int64
	for _, at := range []int{0, len(b) / 2} {
		s := b[at:min(at+sampleSize, len(b))]
		if at > 0 && at < sampleSize {
			break // the middle is the start again
		}
		z := enc.EncodeAll(s, (*bp)[:0])
		in, out = in+int64(len(s)), out+int64(len(z))
	}
	return worth(out, in)
}

var (
	encoderPools [zstd.SpeedBestCompression + 1]sync.Pool
	decoderPool  sync.Pool
)

func getEncoder(l zstd.EncoderLevel) *zstd.Encoder {
	if e, ok := encoderPools[l].Get().(*zstd.Encoder); ok {
		return e
	}
	// One goroutine (the caller's): a store never spawns encoders' own,
	// and their output is the same. No frame checksum: BLAKE3 checks
	// every byte against the object's name anyway.
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithWindowSize(maxWindow))
	if err != nil {
		panic(err) // only fixed, valid options
	}
	return e
}

func putEncoder(l zstd.EncoderLevel, e *zstd.Encoder) {
	e.Reset(nil)
	encoderPools[l].Put(e)
}

func getDecoder() *zstd.Decoder {
	if d, ok := decoderPool.Get().(*zstd.Decoder); ok {
		return d
	}
	// Synchronous (no goroutines of its own), never more than maxWindow of
	// history whatever a frame asks for.
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxWindow),
		zstd.WithDecoderMaxMemory(1<<40))
	if err != nil {
		panic(err)
	}
	return d
}

func putDecoder(d *zstd.Decoder) {
	_ = d.Reset(eofReader{}) // drops the file it read
	decoderPool.Put(d)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// ZstPath returns the file name of object id stored compressed.
func (s *Store) ZstPath(id ID) string { return s.Path(id) + layout.CompressedExt }

// IsCompressedName reports whether name, an entry of objects/ab/, is that
// of a compressed object (<62 hex>.zst).
func IsCompressedName(name string) bool {
	n, ok := strings.CutSuffix(name, layout.CompressedExt)
	return ok && isLowerHex(n, 2*len(ID{})-2)
}

// frameSize reads the header of the zstd frame at the start of f (a
// compressed object of fileSize bytes) and returns the decompressed size
// it declares. A frame without one, or claiming more than a frame of that
// many bytes can hold, is ErrCorrupt.
func frameSize(id ID, path string, f io.ReaderAt, fileSize int64) (int64, error) {
	var hb [zstd.HeaderMaxSize]byte
	n, err := f.ReadAt(hb[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("cas: read %s: %w", path, err)
	}
	var h zstd.Header
	if err := h.Decode(hb[:n]); err != nil {
		return 0, corrupt(id, path, "not a zstd frame: "+err.Error())
	}
	switch {
	case h.Skippable:
		return 0, corrupt(id, path, "not a zstd frame: a skippable frame")
	case !h.HasFCS:
		return 0, corrupt(id, path, "zstd frame without its content size")
	case h.FrameContentSize > uint64(fileSize)*maxRatio || h.FrameContentSize > 1<<62:
		return 0, corrupt(id, path, fmt.Sprintf("zstd frame of %d bytes claims %d decompressed", fileSize, h.FrameContentSize))
	}
	return int64(h.FrameContentSize), nil
}

// fileErr remembers an error of the file a decoder reads, so that a read
// failure (EIO) is told from damage in the frame.
type fileErr struct {
	r   io.Reader
	err error
}

func (f *fileErr) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		f.err = err
	}
	return n, err
}

// decodeInto decodes the frame r yields into b[:size], growing b (when its
// capacity is short of size) as output arrives, and hashes it: a large
// object already allocated is decoded by one goroutine while this one
// hashes (readHash's pipeline), so a hit costs about the larger of the
// two, not their sum. It returns the bytes and their hash; undecodable
// input, output longer or shorter than size, is ErrCorrupt; a read error
// of the file is returned as it is. A panic of the decoder on hostile
// bytes is damage too.
func decodeInto(id ID, path string, r io.Reader, b []byte, size int64) (out []byte, got ID, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, corrupt(id, path, fmt.Sprintf("zstd decoder failed: %v", p))
		}
	}()
	fe := &fileErr{r: r}
	dec := getDecoder()
	defer putDecoder(dec)
	if err := dec.Reset(fe); err != nil {
		return nil, ID{}, undecodable(id, path, fe, err)
	}
	// read is the decoder's Read as readFull wants it (end of output is
	// a short count); it may run on readHash's goroutine, so a panic
	// there is caught there.
	read := func(p []byte) (n int, err error) {
		defer func() {
			if e := recover(); e != nil {
				n, err = 0, fmt.Errorf("%w: zstd decoder failed: %v", errDecoder, e)
			}
		}()
		n, err = zread(dec, p)
		if err == io.EOF {
			err = nil
		}
		return n, err
	}
	var n int64
	if int64(cap(b)) >= size {
		b = b[:size]
		m, sum, rerr := readHash(read, b)
		if rerr != nil {
			return nil, ID{}, undecodable(id, path, fe, rerr)
		}
		n, got = int64(m), sum
	} else {
		h := getHasher()
		defer putHasher(h)
		for n < size {
			end := min(n+zchunk, size)
			if int64(cap(b)) < end {
				nb := make([]byte, n, min(size, max(2*int64(cap(b)), end)))
				copy(nb, b[:n])
				b = nb
			}
			want := end - n
			m, rerr := readFull(read, b[n:end])
			h.Write(b[n : n+int64(m)])
			n += int64(m)
			if rerr != nil {
				return nil, ID{}, undecodable(id, path, fe, rerr)
			}
			if int64(m) < want {
				break // the frame ended
			}
		}
		got = sum(h)
	}
	if n != size {
		if fe.err != nil {
			return nil, ID{}, fmt.Errorf("cas: read %s: %w", path, fe.err)
		}
		return nil, ID{}, corrupt(id, path, fmt.Sprintf("decompresses to %d bytes, not the %d its header declares", n, size))
	}
	var one [1]byte
	if m, rerr := zread(dec, one[:]); m > 0 || rerr != io.EOF {
		if m == 0 && rerr != nil {
			return nil, ID{}, undecodable(id, path, fe, rerr)
		}
		return nil, ID{}, corrupt(id, path, fmt.Sprintf("decompresses to more than the %d bytes its header declares", size))
	}
	return b[:size], got, nil
}

// errDecoder marks a decoder that panicked on hostile bytes.
var errDecoder = errors.New("zstd decoder failed")

// errNoProgress is zread's error for a decoder that returns nothing, and
// no error, again and again: a loop reading until io.EOF would never end.
var errNoProgress = errors.New("zstd decoder makes no progress")

// zread is dec.Read that never returns (0, nil): a decoder that returns
// no bytes and no error more than a few times in a row is an error.
func zread(dec *zstd.Decoder, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for try := 0; ; try++ {
		n, err := dec.Read(p)
		if n > 0 || err != nil {
			return n, err
		}
		if try == 16 {
			return 0, errNoProgress
		}
	}
}

// undecodable is the error for a frame the decoder refused: a read error
// of the file if there was one, else damage.
func undecodable(id ID, path string, fe *fileErr, err error) error {
	if fe.err != nil {
		return fmt.Errorf("cas: read %s: %w", path, fe.err)
	}
	return corrupt(id, path, "zstd: "+err.Error())
}

// getZst reads compressed object id, verified, into into (nil: a new
// buffer; else exactly as long as the object). want >= 0 is the size the
// caller expects. An absent compressed file is ErrNotFound.
func (s *Store) getZst(id ID, want int64, into []byte) ([]byte, error) {
	path := s.ZstPath(id)
	f, fi, err := s.openObject(id, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := frameSize(id, path, f, fi.Size())
	if err != nil {
		return nil, err
	}
	if err := checkSize(id, path, size, want); err != nil {
		return nil, err
	}
	b := into
	if b == nil {
		// Allocated as output arrives beyond what a typical ratio makes
		// of the file: a frame that claims far more than it holds costs
		// what it really decodes to, not what it claims.
		b = make([]byte, 0, min(size, max(64<<20, fi.Size()*64)))
	} else if int64(len(b)) != size {
		return nil, corrupt(id, path, fmt.Sprintf("%d bytes, not the %d expected", size, len(b)))
	}
	b, got, err := decodeInto(id, path, f, b, size)
	if err != nil {
		return nil, err
	}
	if got != id {
		return nil, corrupt(id, path, "hash mismatch: content hashes to "+got.String())
	}
	s.touchIfStale(path, fi.ModTime())
	return b, nil
}

// orZst is the fallback of a read of loose object id whose raw file is
// absent (err): the compressed file, if there is one; else err.
func (s *Store) orZst(id ID, want int64, into []byte, err error) ([]byte, error) {
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	b, zerr := s.getZst(id, want, into)
	if errors.Is(zerr, ErrNotFound) {
		return nil, err
	}
	return b, zerr
}

// verifyZst is Verify of the compressed file of id.
func (s *Store) verifyZst(id ID) error {
	path := s.ZstPath(id)
	f, fi, err := s.openObject(id, path)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := frameSize(id, path, f, fi.Size())
	if err != nil {
		return err
	}
	_, got, err := HashCompressed(id, path, f, size)
	if err != nil {
		return err
	}
	if got != id {
		return corrupt(id, path, "hash mismatch: content hashes to "+got.String())
	}
	return nil
}

// HashCompressed decodes the zstd frame r yields (compressed object id
// at path, declaring size bytes) through a bounded buffer and returns the
// hash of its decompressed bytes and their count; a frame that does not
// decode to exactly size bytes is ErrCorrupt. Maintenance hashes
// compressed objects with it.
func HashCompressed(id ID, path string, r io.Reader, size int64) (int64, ID, error) {
	bp := getBuf()
	defer putBuf(bp)
	buf := *bp
	var n int64
	h := getHasher()
	defer putHasher(h)
	err := decodeStream(id, path, r, size, buf, func(p []byte) error {
		h.Write(p)
		n += int64(len(p))
		return nil
	})
	if err != nil {
		return n, ID{}, err
	}
	return n, sum(h), nil
}

// decodeStream decodes the frame r yields, which must be exactly size
// bytes, passing it to fn in pieces of at most len(buf).
func decodeStream(id ID, path string, r io.Reader, size int64, buf []byte, fn func([]byte) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = corrupt(id, path, fmt.Sprintf("zstd decoder failed: %v", p))
		}
	}()
	fe := &fileErr{r: r}
	dec := getDecoder()
	defer putDecoder(dec)
	if err := dec.Reset(fe); err != nil {
		return undecodable(id, path, fe, err)
	}
	var n int64
	for {
		m, rerr := zread(dec, buf)
		if n+int64(m) > size {
			return corrupt(id, path, fmt.Sprintf("decompresses to more than the %d bytes its header declares", size))
		}
		if m > 0 {
			if err := fn(buf[:m]); err != nil {
				return err
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return undecodable(id, path, fe, rerr)
		}
	}
	if n != size {
		if fe.err != nil {
			return fmt.Errorf("cas: read %s: %w", path, fe.err)
		}
		return corrupt(id, path, fmt.Sprintf("decompresses to %d bytes, not the %d its header declares", n, size))
	}
	return nil
}

// CompressedSize returns the decompressed size of the compressed object id, from
// its frame header.
func (s *Store) CompressedSize(id ID) (int64, error) {
	path := s.ZstPath(id)
	f, fi, err := s.openObject(id, path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return frameSize(id, path, f, fi.Size())
}

// hasZst reports whether compressed object id is there as a regular file.
func (s *Store) hasZst(id ID) bool {
	fi, err := os.Lstat(s.ZstPath(id))
	return err == nil && fi.Mode().IsRegular()
}

// presentZst is present for the compressed file of id: it refreshes its
// mtime when it is there.
func (s *Store) presentZst(id ID) bool {
	path := s.ZstPath(id)
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return false
	}
	s.touchIfStale(path, fi.ModTime())
	return true
}

// holdsCompressed reports whether the cache's marker says it may hold
// compressed objects (this Store raised it, or another did).
func (s *Store) holdsCompressed() bool {
	if s.zstMarked.Load() {
		return true
	}
	if s.d.LayoutVersion() >= layout.CompressedVersion {
		s.zstMarked.Store(true)
		return true
	}
	return false
}

// putDecompressed is PutExpect of the object the zstd frame r yields.
func (s *Store) putDecompressed(r io.Reader, want ID, size int64) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cas: put %x: %w: zstd decoder failed: %v", want[:8], ErrCorrupt, p)
		}
	}()
	fe := &fileErr{r: io.LimitReader(r, size+size>>7+1<<10+1)}
	dec := getDecoder()
	defer putDecoder(dec)
	if err := dec.Reset(fe); err != nil {
		return fmt.Errorf("cas: put %x: %w: zstd: %v", want[:8], ErrCorrupt, err)
	}
	err = s.PutExpect(&frameReader{dec: dec, fe: fe}, want, size)
	if err == nil {
		// The stream must be the frame alone.
		if m, _ := io.Copy(io.Discard, fe); m > 0 {
			return fmt.Errorf("cas: put %x: %w: bytes after the zstd frame", want[:8], ErrCorrupt)
		}
	}
	return err
}

// frameReader reads what a zstd frame decodes to; a frame that does not
// decode is ErrCorrupt, a read error of the stream under it that error.
type frameReader struct {
	dec *zstd.Decoder
	fe  *fileErr
}

func (r *frameReader) Read(p []byte) (int, error) {
	n, err := zread(r.dec, p)
	if err != nil && err != io.EOF {
		if r.fe.err != nil {
			return n, r.fe.err
		}
		return n, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
	}
	return n, err
}

// markCompressed raises the cache's marker to layout.CompressedVersion
// once per Store, before its first compressed object is committed, so
// that no release that would take a compressed object for a stray ever
// maintains the cache. It reports whether the marker says so; if it
// cannot be written, objects are stored raw.
func (s *Store) markCompressed() bool {
	if s.zstMarked.Load() {
		return true
	}
	s.zstMu.Lock()
	defer s.zstMu.Unlock()
	if s.zstMarked.Load() {
		return true
	}
	if err := s.d.UpgradeMarker(layout.CompressedVersion); err != nil {
		return false
	}
	s.zstMarked.Store(true)
	return true
}

// zstState is the part of a Store that compression adds.
type zstState struct {
	zstMarked atomic.Bool // the marker names layout.CompressedVersion
	zstMu     sync.Mutex  // serialises raising it
}

// errNotWorth is putCompressed's answer when the whole object compressed
// less well than its sample promised: it is stored raw instead.
var errNotWorth = errors.New("compression does not pay")

// countWriter counts what it writes to a temp file through the tempWrite
// seam (fault injection reaches compressed writes too).
type countWriter struct {
	f   *os.File
	n   int64
	err error
}

func (w *countWriter) Write(p []byte) (int, error) {
	n, err := tempWrite(w.f, p)
	w.n += int64(n)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// putCompressed stores b (object id) compressed at level c, streaming it
// through the encoder into a temp file in pieces: memory beyond the
// encoder's window does not depend on the object's size. errNotWorth (and
// nothing stored) when the result is not at least 1/8 smaller.
func (s *Store) putCompressed(id ID, b []byte, c Compression) error {
	if !s.markCompressed() {
		return errNotWorth
	}
	path := s.ZstPath(id)
	f, err := s.createTemp(path)
	if err != nil {
		return err
	}
	l := c.level()
	enc := getEncoder(l)
	defer putEncoder(l, enc)
	w := &countWriter{f: f}
	enc.ResetContentSize(w, int64(len(b)))
	for off := 0; off < len(b); off += zchunk {
		if _, err := enc.Write(b[off:min(off+zchunk, len(b))]); err != nil {
			return abort(f, path, firstErr(w.err, err))
		}
	}
	if err := enc.Close(); err != nil {
		return abort(f, path, firstErr(w.err, err))
	}
	if !worth(w.n, int64(len(b))) {
		f.Close()
		os.Remove(f.Name())
		return errNotWorth
	}
	return s.commit(id, f, path, w.n)
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// PutBatchCompressed is PutBatch storing each loose object compressed at
// level c when compressing it pays (sampled first: incompressible objects
// are stored raw at once); objects below the pack limit are packed raw.
// An object already stored, raw or compressed, is not stored again.
func (s *Store) PutBatchCompressed(bs [][]byte, c Compression) ([]ID, error) {
	if c == NoCompression {
		return s.PutBatch(bs)
	}
	if c < 1 || c > MaxCompression {
		return nil, fmt.Errorf("cas: compression level %d: want 1 to %d", c, MaxCompression)
	}
	return s.putBatch(bs, c)
}

// putLooseCompressed stores b as a loose file, compressed at level c when
// that pays.
func (s *Store) putLooseCompressed(b []byte, c Compression) (ID, error) {
	if c == NoCompression || !compressible(b) {
		return s.putLoose(b)
	}
	id := Sum(b)
	if s.present(id, s.Path(id), int64(len(b))) || s.presentZst(id) {
		return id, nil
	}
	err := s.putCompressed(id, b, c)
	if errors.Is(err, errNotWorth) {
		return s.putLoose(b)
	}
	if err != nil {
		return ID{}, err
	}
	return id, nil
}

// PutCompressedExpect stores object want of size bytes from r, which
// yields it compressed (a zstd frame declaring size, as a remote serves
// what a compressing cache uploaded), only if the frame decompresses to
// exactly that: the compressed bytes are written as they come while their
// decompressed bytes are hashed, and anything else stores nothing and
// fails with an error wrapping ErrCorrupt. A cache whose marker does not
// say it holds compressed objects (layout.CompressedVersion) gets the
// object decompressed, raw. An object this process knows to be present is
// not read.
func (s *Store) PutCompressedExpect(r io.Reader, want ID, size int64) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if s.Known(want) {
		return nil
	}
	// A cache that holds no compressed object (none of its functions
	// compresses) stays one that any release reads: the download is
	// decompressed into a raw object.
	if !s.holdsCompressed() {
		return s.putDecompressed(r, want, size)
	}
	path := s.ZstPath(want)
	f, err := s.createTemp(path)
	if err != nil {
		return err
	}
	// A frame we would store is smaller than its content; a download
	// that goes on much past that is not one.
	maxCompressed := size + size>>7 + 1<<10
	w := &countWriter{f: f}
	tee := io.TeeReader(io.LimitReader(r, maxCompressed+1), w)
	n, got, err := HashCompressed(want, "download", tee, size)
	if err == nil && w.err != nil {
		err = w.err
	}
	if err == nil {
		// What the decoder did not need of the stream (there should be
		// nothing): the file must be the frame alone.
		if m, _ := io.Copy(w, tee); m > 0 || w.n > maxCompressed {
			err = fmt.Errorf("%w: trailing bytes after the zstd frame", ErrCorrupt)
		}
	}
	if err == nil && (got != want || n != size) {
		err = fmt.Errorf("%w: got %d bytes hashing to %.16s, want %d", ErrCorrupt, n, got.String(), size)
	}
	if err == nil {
		if sz, ferr := frameSize(want, path, f, w.n); ferr != nil || sz != size {
			err = fmt.Errorf("%w: the frame's header does not declare its %d bytes", ErrCorrupt, size)
		}
	}
	if err != nil {
		return abort(f, path, err)
	}
	return s.place(want, f, path, w.n, s.present(want, s.Path(want), size) || s.presentZst(want))
}

// Stored opens the file that holds loose object id as it is on disk, for
// a copy that keeps its form (an upload): the raw file, else the
// compressed one (compressed true; its bytes are a zstd frame). The
// bytes are not verified: the reader of the copy verifies them. Packed
// objects are not loose: ErrNotFound.
func (s *Store) Stored(id ID) (f *os.File, size int64, compressed bool, err error) {
	f, fi, err := s.openObject(id, s.Path(id))
	if errors.Is(err, ErrNotFound) {
		f, fi, err = s.openObject(id, s.ZstPath(id))
		compressed = true
	}
	if err != nil {
		return nil, 0, false, err
	}
	return f, fi.Size(), compressed, nil
}

// StoredCompressed reports whether loose object id is stored compressed
// only (no raw file beside it).
func (s *Store) StoredCompressed(id ID) bool {
	_, err := os.Lstat(s.Path(id))
	return isAbsent(err) && s.hasZst(id)
}

// PutReaderCompressed is PutReader of a stream of size bytes (an import's
// object) that stores it compressed at level c when its start (sampled)
// compresses well: streamed through the encoder into a temp file while the
// uncompressed bytes are hashed, never held whole. A stream of another
// length stores nothing (ErrCorrupt). Small or incompressible streams are
// stored as PutReader stores them.
func (s *Store) PutReaderCompressed(r io.Reader, size int64, c Compression) (ID, int64, error) {
	if s.readOnly {
		return ID{}, 0, ErrReadOnly
	}
	if c == NoCompression || size < int64(max(s.limit, minCompress)) || c > MaxCompression || c < 0 {
		return s.PutReader(r)
	}
	head := make([]byte, min(size, 2*sampleSize))
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return ID{}, 0, fmt.Errorf("cas: put stream: read: %w", err)
	}
	r = io.MultiReader(bytes.NewReader(head[:n]), r)
	if !compressible(head[:n]) || !s.markCompressed() {
		return s.PutReader(r)
	}
	f, err := s.createTemp("stream")
	if err != nil {
		return ID{}, 0, err
	}
	l := c.level()
	enc := getEncoder(l)
	defer putEncoder(l, enc)
	w := &countWriter{f: f}
	enc.ResetContentSize(w, size)
	h := getHasher()
	defer putHasher(h)
	bp := getBuf()
	defer putBuf(bp)
	var total int64
	lr := io.LimitReader(r, size+1)
	for {
		m, rerr := lr.Read(*bp)
		if m > 0 {
			h.Write((*bp)[:m])
			total += int64(m)
			if total > size {
				break
			}
			if _, err := enc.Write((*bp)[:m]); err != nil {
				return ID{}, total, abort(f, "stream", firstErr(w.err, err))
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return ID{}, total, abort(f, "stream", fmt.Errorf("read: %w", rerr))
		}
	}
	if total != size {
		return ID{}, total, abort(f, "stream", fmt.Errorf("%w: %d bytes or more, not the %d declared", ErrCorrupt, total, size))
	}
	if err := enc.Close(); err != nil {
		return ID{}, total, abort(f, "stream", firstErr(w.err, err))
	}
	id := sum(h)
	if err := s.place(id, f, s.ZstPath(id), w.n, s.present(id, s.Path(id), size) || s.presentZst(id)); err != nil {
		return ID{}, size, err
	}
	return id, size, nil
}

// FrameContentSize returns the decompressed size the zstd frame header at
// the start of b declares (b holds at least its first 18 bytes, or all of
// a shorter file); ok false when b starts no frame that declares one.
func FrameContentSize(b []byte) (int64, bool) {
	var h zstd.Header
	if h.Decode(b) != nil || h.Skippable || !h.HasFCS || h.FrameContentSize > 1<<62 {
		return 0, false
	}
	return int64(h.FrameContentSize), true
}
