package record

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// The manifest file format versions: 2 added the record fields u and y, 3
// the field i (a small result's bytes, inlined in the segments a remote
// shares), 4 the field z (an object of the entry may be stored compressed
// on the remote). Version is what this package writes to files whose
// records use no newer field (every local file: a pcache of an earlier
// release sharing the cache directory still reads them); InlineVersion
// heads segments that hold inlined results, ZstdVersion those holding a
// record with z: a release before compression cannot read them, so it
// neither serves those entries nor, taking their compressed objects for
// missing, has its remote gc drop them (it leaves a function whose index
// it cannot read alone). It reads every version from MinVersion to
// MaxVersion.
const (
	Version       = 2
	InlineVersion = 3
	ZstdVersion   = 4
	MaxVersion    = ZstdVersion
	MinVersion    = 1
)

// Header values naming the two file kinds and the digest used for key hashes
// and object IDs.
const (
	JournalFormat = "pcache-journal"
	SegmentFormat = "pcache-segment"
	digestName    = "blake3-256"
)

// MaxHeader bounds the header item of a file.
const MaxHeader = 64 << 10

// ErrUnknownVersion is wrapped by errors about a manifest file whose header
// names a format version this package does not know (written by a newer
// pcache): upgrade pcache to read it.
var ErrUnknownVersion = errors.New("manifest: unknown format version")

// ErrBadHeader is wrapped by header errors other than an unknown version.
var ErrBadHeader = errors.New("bad header")

// Header is the first item of every journal and segment file.
type Header struct {
	Format  string  `cbor:"format"`
	Version uint64  `cbor:"version"`
	Digest  string  `cbor:"digest"`
	Name    string  `cbor:"name"`
	Count   *uint64 `cbor:"count,omitempty"` // segments only: number of records
}

// EncodeHeader encodes the header of a new file of the given format and
// version (Version, or InlineVersion or ZstdVersion for a segment holding
// inlined results or compressed objects' records).
func EncodeHeader(format string, version uint64, name string, count *uint64) ([]byte, error) {
	if b, ok := fastEncodeHeader(format, version, name, count); ok {
		return b, nil
	}
	b, err := encMode.Marshal(&Header{Format: format, Version: version, Digest: digestName, Name: name, Count: count})
	if err != nil {
		return nil, fmt.Errorf("manifest: encode header: %w", err)
	}
	return b, nil
}

// fastEncodeHeader writes the bytes encMode.Marshal writes for the Header
// (TestFastEncodeHeader checks it) without reflection: the first write of
// a process (a journal for a miss, or for the uses of its hits) does not
// pay to build the encoder. It declines text that is not UTF-8.
func fastEncodeHeader(format string, version uint64, name string, count *uint64) ([]byte, bool) {
	if !utf8.ValidString(format) || !utf8.ValidString(name) {
		return nil, false
	}
	n := uint64(4)
	if count != nil {
		n = 5
	}
	b := AppendHead(make([]byte, 0, 48+len(format)+len(name)+len(digestName)), MajorMap, n)
	text := func(s string) { b = append(AppendHead(b, MajorText, uint64(len(s))), s...) }
	// Keys in canonical order: the shorter encoding first, then bytewise.
	text("name")
	text(name)
	if count != nil {
		text("count")
		b = AppendHead(b, MajorUint, *count)
	}
	text("digest")
	text(digestName)
	text("format")
	text(format)
	text("version")
	return AppendHead(b, MajorUint, version), true
}

// ParseHeader decodes the header item at the start of b, checks that it is a
// header of a known version of the wanted format, and returns it with its length.
func ParseHeader(b []byte, format string) (Header, int, error) {
	var h Header
	if len(b) > MaxHeader {
		b = b[:MaxHeader]
	}
	n := fastHeader(b, &h)
	if n == 0 {
		rest, err := headerDecMode.UnmarshalFirst(b, &h)
		if err != nil {
			return h, 0, fmt.Errorf("%w: %v", ErrBadHeader, err)
		}
		n = len(b) - len(rest)
	}
	if h.Format != format {
		return h, 0, fmt.Errorf("%w: format %q, want %q", ErrBadHeader, h.Format, format)
	}
	if h.Version == 0 { // no pcache ever wrote it: damage, not a newer writer
		return h, 0, fmt.Errorf("%w: format version missing or 0", ErrBadHeader)
	}
	if h.Version > MaxVersion {
		return h, 0, fmt.Errorf("%w %d (this pcache reads versions %d to %d; upgrade pcache)", ErrUnknownVersion, h.Version, MinVersion, MaxVersion)
	}
	if h.Digest != digestName {
		return h, 0, fmt.Errorf("%w: digest %q, want %q", ErrBadHeader, h.Digest, digestName)
	}
	return h, n, nil
}
