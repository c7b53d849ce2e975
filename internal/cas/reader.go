package cas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"
)

// Reader streams one object and verifies it as it goes. It hashes every byte
// it returns; when the last byte of the object (by the size at open) has been
// read, it checks the hash, and if the bytes do not hash to the object's ID
// that Read returns no bytes and an error wrapping ErrCorrupt (as does every
// later one) instead of success or io.EOF. So a consumer that reads until io.EOF, or
// exactly Size bytes, never finishes successfully on bad data; one that stops
// earlier has not been told the data is good. A file that ends early or grows
// is ErrCorrupt too.
//
// A Reader is not safe for concurrent use. Close it when done.
type Reader struct {
	s       *Store
	f       *os.File
	id      ID
	path    string
	size    int64 // at open
	n       int64 // bytes returned so far
	h       *blake3.Hasher
	checked bool          // the hash of the first size bytes has been checked and matched
	err     error         // sticky: io.EOF or the corruption found
	mem     *bytes.Reader // a packed object, verified when it was copied out
	dec     *zstd.Decoder // a compressed object: decodes f
	fe      *fileErr      // f as dec reads it
}

// Open opens object id for verified streaming. An absent object is an error
// wrapping ErrNotFound; a path that is not a regular file is ErrCorrupt. Open
// counts as a use: it refreshes the object's mtime (see TouchQuantum).
func (s *Store) Open(id ID) (*Reader, error) {
	var mem []byte
	if ok, err := s.packs.get(id, -1, func(b []byte) error { mem = append([]byte(nil), b...); return nil }); ok {
		if err != nil {
			return nil, err
		}
		return &Reader{s: s, id: id, path: s.d.Packs(), size: int64(len(mem)), mem: bytes.NewReader(mem), checked: true}, nil
	}
	path := s.Path(id)
	f, fi, err := s.openObject(id, path)
	if errors.Is(err, ErrNotFound) {
		if r, zerr := s.openZst(id); !errors.Is(zerr, ErrNotFound) {
			return r, zerr
		}
	}
	if err != nil {
		return nil, err
	}
	if fi.Size() == 0 && id != emptyID {
		// A consumer reading exactly Size() bytes would never call Read.
		f.Close()
		return nil, corrupt(id, path, "empty file")
	}
	s.touchIfStale(path, fi.ModTime())
	return &Reader{s: s, f: f, id: id, path: path, size: fi.Size(), h: getHasher()}, nil
}

// openZst is Open of the compressed file of id: the Reader decodes it as
// it reads, and its Size is what the frame's header declares.
func (s *Store) openZst(id ID) (*Reader, error) {
	path := s.ZstPath(id)
	f, fi, err := s.openObject(id, path)
	if err != nil {
		return nil, err
	}
	size, err := frameSize(id, path, f, fi.Size())
	if err == nil && size == 0 && id != emptyID {
		err = corrupt(id, path, "empty")
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	fe := &fileErr{r: f}
	dec := getDecoder()
	if err := dec.Reset(fe); err != nil {
		putDecoder(dec)
		f.Close()
		return nil, corrupt(id, path, "zstd: "+err.Error())
	}
	s.touchIfStale(path, fi.ModTime())
	return &Reader{s: s, f: f, id: id, path: path, size: size, h: getHasher(), dec: dec, fe: fe}, nil
}

// readSource reads the object's next bytes: the file's, or those its
// frame decodes to. A frame that does not decode is ErrCorrupt (the
// decoder panicking on hostile bytes too).
func (r *Reader) readSource(p []byte) (n int, err error) {
	if r.dec == nil {
		return r.f.Read(p)
	}
	defer func() {
		if e := recover(); e != nil {
			n, err = 0, corrupt(r.id, r.path, fmt.Sprintf("zstd decoder failed: %v", e))
		}
	}()
	n, err = zread(r.dec, p)
	if err != nil && err != io.EOF {
		if r.fe.err != nil {
			return n, r.fe.err
		}
		return n, corrupt(r.id, r.path, "zstd: "+err.Error())
	}
	return n, err
}

// emptyID is the ID of the empty object.
var emptyID = Sum(nil)

// Size returns the object's size in bytes, as it was when opened.
func (r *Reader) Size() int64 { return r.size }

// ID returns the ID of the object being read.
func (r *Reader) ID() ID { return r.id }

// Read reads up to len(p) bytes of the object. See Reader for how it reports
// corruption.
func (r *Reader) Read(p []byte) (int, error) {
	if r.mem != nil {
		return r.mem.Read(p)
	}
	if r.err != nil {
		return 0, r.err
	}
	if r.f == nil {
		return 0, fmt.Errorf("cas: read %s: %w", r.path, os.ErrClosed)
	}
	n, err := r.readSource(p)
	if errors.Is(err, ErrCorrupt) {
		r.err = err
		return 0, err
	}
	if n > 0 {
		r.h.Write(p[:n])
		r.n += int64(n)
		// Bytes that complete a corrupt object are withheld (0, err): io.ReadFull
		// and io.ReadAtLeast drop an error that comes with the last bytes they
		// asked for.
		if r.n > r.size {
			r.err = corrupt(r.id, r.path, fmt.Sprintf("grew while reading: more than %d bytes", r.size))
			return 0, r.err
		}
		if r.n == r.size {
			if r.err = r.check(); r.err != nil {
				return 0, r.err
			}
		}
	}
	switch {
	case err == io.EOF:
		if r.n < r.size {
			r.err = corrupt(r.id, r.path, fmt.Sprintf("truncated while reading: %d of %d bytes", r.n, r.size))
			return 0, r.err
		}
		if r.err = r.check(); r.err != nil {
			return 0, r.err
		}
		r.err = io.EOF
		return n, r.err
	case err != nil:
		return n, fmt.Errorf("cas: %w", err)
	}
	return n, nil
}

// check verifies the hash once all size bytes have been read.
func (r *Reader) check() error {
	if r.checked {
		return nil
	}
	if got := sum(r.h); got != r.id {
		return corrupt(r.id, r.path, "hash mismatch: content hashes to "+got.String())
	}
	r.checked = true
	return nil
}

// WriteTo copies the rest of the object to w through a large buffer (so
// io.Copy uses it), with the same verification as Read: it returns nil only
// if the whole object was read and matched its ID.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	bp := getBuf()
	defer putBuf(bp)
	buf := *bp
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 && (err == nil || err == io.EOF) {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close closes the file. It is safe to call more than once.
func (r *Reader) Close() error {
	if r.mem != nil {
		r.mem = bytes.NewReader(nil)
		return nil
	}
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	if r.dec != nil {
		putDecoder(r.dec)
		r.dec, r.fe = nil, nil
	}
	putHasher(r.h)
	r.h = nil
	if r.err == nil {
		r.err = fmt.Errorf("cas: read %s: %w", r.path, os.ErrClosed)
	}
	return err
}

// CopyTo writes object id to dst at dst's current offset and returns the
// number of bytes copied. Every byte is hashed as it is read from the object
// and the same bytes are what reach dst (on Linux through copy_file_range
// where the file system supports it, which clones blocks on btrfs and XFS
// instead of writing them); if they do not hash to id the error
// wraps ErrCorrupt and dst holds unverified bytes, so callers copy into a
// temp file and rename it into place only on success (this is how out-file
// restore works). Absent is ErrNotFound. CopyTo counts as a use of the object.
func (s *Store) CopyTo(id ID, dst *os.File) (int64, error) {
	var written int
	if ok, err := s.packs.get(id, -1, func(b []byte) error {
		var werr error
		written, werr = dst.Write(b)
		return werr
	}); ok {
		if err != nil && !errors.Is(err, ErrCorrupt) {
			err = fmt.Errorf("cas: copy %s: %w", id, err)
		}
		return int64(written), err
	}
	path := s.Path(id)
	src, fi, err := s.openObject(id, path)
	if errors.Is(err, ErrNotFound) {
		if n, zerr := s.copyZst(id, dst); !errors.Is(zerr, ErrNotFound) {
			return n, zerr
		}
	}
	if err != nil {
		return 0, err
	}
	defer src.Close()
	h := getHasher()
	defer putHasher(h)
	bp := getBuf()
	defer putBuf(bp)
	buf := *bp
	c := newCopier(src, dst)
	var n int64
	for {
		m, rerr := src.Read(buf)
		if m > 0 {
			h.Write(buf[:m])
			if err := c.write(buf[:m], n); err != nil {
				return n, fmt.Errorf("cas: copy %s: %w", path, err)
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, fmt.Errorf("cas: copy: %w", rerr)
		}
	}
	if n != fi.Size() {
		return n, corrupt(id, path, fmt.Sprintf("size changed while reading: %d bytes read, %d at open", n, fi.Size()))
	}
	if got := sum(h); got != id {
		return n, corrupt(id, path, "hash mismatch: content hashes to "+got.String())
	}
	s.touchIfStale(path, fi.ModTime())
	return n, nil
}

// copyZst is CopyTo of the compressed file of id: decoded into dst as it
// is read, hashed, and ErrCorrupt at the end if it is not the object.
func (s *Store) copyZst(id ID, dst *os.File) (int64, error) {
	path := s.ZstPath(id)
	f, fi, err := s.openObject(id, path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	size, err := frameSize(id, path, f, fi.Size())
	if err != nil {
		return 0, err
	}
	h := getHasher()
	defer putHasher(h)
	bp := getBuf()
	defer putBuf(bp)
	var n int64
	err = decodeStream(id, path, f, size, *bp, func(p []byte) error {
		h.Write(p)
		if _, err := dst.Write(p); err != nil {
			return fmt.Errorf("cas: copy %s: %w", path, err)
		}
		n += int64(len(p))
		return nil
	})
	if err != nil {
		return n, err
	}
	if got := sum(h); got != id {
		return n, corrupt(id, path, "hash mismatch: content hashes to "+got.String())
	}
	s.touchIfStale(path, fi.ModTime())
	return n, nil
}
