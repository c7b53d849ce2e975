package manifest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
)

// writeSegment writes a segment of the n records that at returns in strictly
// increasing key order, through a temp file in tmpDir, renames it into dir
// (created if needed) and returns its file name. With durable the file and
// the directory are fsynced before it returns. A segment of the same content
// that is already there is left as it is.
func writeSegment(tmpDir, dir, name string, n int, at func(i int) (*record.KeyHash, []byte, error), durable bool) (_ string, err error) {
	if err := os.MkdirAll(tmpDir, 0o777); err != nil {
		return "", fmt.Errorf("manifest: write segment: %w", err)
	}
	f, err := fsutil.CreateTemp(tmpDir, "segment-", 0o644)
	if err != nil {
		return "", fmt.Errorf("manifest: write segment: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	hash := blake3.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, hash), 1<<20)
	if err := encodeSegment(w, record.Version, name, n, at); err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", fmt.Errorf("manifest: write segment %s: %w", f.Name(), err)
	}
	file := layout.SegmentName(hash.Sum(nil))
	final := filepath.Join(dir, file)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", fmt.Errorf("manifest: write segment: %w", err)
	}
	if fi, err := os.Lstat(final); err == nil && fi.Mode().IsRegular() {
		return file, nil // same content already present (deferred cleanup removes the temp file)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("manifest: write segment: %w", err)
	}
	committed = true // Commit removes the temp file itself on failure
	if err := fsutil.Commit(f, final, durable); err != nil {
		return "", fmt.Errorf("manifest: write segment: %w", err)
	}
	return file, nil
}

// encodeSegment writes the segment of the n records at returns (in strictly
// increasing key order) of function name to w, under a header of the given
// format version.
func encodeSegment(w io.Writer, version uint64, name string, n int, at func(i int) (*record.KeyHash, []byte, error)) error {
	count := uint64(n)
	hdr, err := record.EncodeHeader(record.SegmentFormat, version, name, &count)
	if err != nil {
		return err
	}
	w.Write(hdr)
	off := int64(len(hdr))
	index := make([]byte, 0, n*indexEntrySize)
	var prev *record.KeyHash
	var buf []byte
	for i := 0; i < n; i++ {
		h, payload, err := at(i)
		if err != nil {
			return err
		}
		if prev != nil && bytes.Compare(h[:], prev[:]) <= 0 {
			return fmt.Errorf("manifest: write segment: keys out of order at record %d", i) // a bug, not damage
		}
		prev = h
		index = append(index, h[:]...)
		index = binary.BigEndian.AppendUint64(index, uint64(off))
		buf = record.AppendFrame(buf[:0], payload)
		w.Write(buf)
		off += int64(len(buf))
	}
	w.Write(record.AppendHead(nil, record.MajorBytes, uint64(len(index))))
	w.Write(index)
	var trailer [trailerSize]byte
	trailer[0] = record.MajorUint<<5 | 27
	binary.BigEndian.PutUint64(trailer[1:], uint64(off))
	_, err = w.Write(trailer[:])
	return err
}

// EncodeSegment returns a segment holding entries (the winner per key by
// the resolution rule, tombstones kept) of function name, and its file name
// (content-named): how a segment travels to a remote. Entries may carry
// their results inline (Entry.Inline), or say the remote may hold an object
// compressed (Entry.Zstd); the segment then has format version
// record.InlineVersion, or record.ZstdVersion.
func EncodeSegment(name string, entries []record.Entry) (file string, data []byte, err error) {
	best := map[[32]byte]*rec{}
	inline := map[[32]byte][]byte{} // by result: a record of a later use keeps the inlined result
	zstd := map[[32]byte]bool{}     // by result: and says the remote may hold it compressed
	for i := range entries {
		r := &rec{e: entries[i]}
		mergeInto(best, r)
		if r.e.Inline != nil {
			inline[r.e.Result] = r.e.Inline
		}
		if r.e.Zstd {
			zstd[r.e.Result] = true
		}
	}
	for _, r := range best {
		if b, ok := inline[r.e.Result]; ok && r.e.Inline == nil && !r.e.Deleted {
			r.e.Inline = b
		}
		if zstd[r.e.Result] && !r.e.Deleted {
			r.e.Zstd = true
		}
	}
	src := newSliceSource(best)
	payloads := make([][]byte, len(src.recs))
	version := uint64(record.Version)
	for i, r := range src.recs {
		if payloads[i], err = record.Encode(&r.e); err != nil {
			return "", nil, err
		}
		if r.e.Inline != nil {
			version = max(version, record.InlineVersion)
		}
		if r.e.Zstd {
			version = record.ZstdVersion
		}
	}
	var b bytes.Buffer
	if err := encodeSegment(&b, version, name, len(payloads), func(i int) (*record.KeyHash, []byte, error) {
		return &src.recs[i].e.KeyHash, payloads[i], nil
	}); err != nil {
		return "", nil, err
	}
	sum := blake3.Sum256(b.Bytes())
	return layout.SegmentName(sum[:]), b.Bytes(), nil
}

// DecodeSegment returns the records of a segment's bytes (damaged records
// skipped), checking that the segment belongs to function name.
func DecodeSegment(name string, data []byte) ([]record.Entry, error) {
	s := &segment{path: "segment", data: data}
	if err := s.validate(int64(len(data))); err != nil {
		return nil, err
	}
	if h, _, err := record.ParseHeader(data, record.SegmentFormat); err != nil {
		return nil, err
	} else if h.Name != name {
		return nil, fmt.Errorf("manifest: segment of function %q, want %q", h.Name, name)
	}
	var out []record.Entry
	src := &segSource{s: s, report: func(Problem) {}}
	err := guardFaults(func() error {
		for r, ok := src.next(); ok; r, ok = src.next() {
			if r.load() {
				out = append(out, r.e)
			}
		}
		return nil
	})
	return out, err
}
