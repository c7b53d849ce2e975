package manifest

import (
	"errors"
	"fmt"
)

// Version is the manifest file format version this package reads and writes.
const Version = 1

// Header values naming the two file kinds and the digest used for key hashes
// and object IDs.
const (
	journalFormat = "pcache-journal"
	segmentFormat = "pcache-segment"
	digestName    = "blake3-256"
)

// maxHeader bounds the header item of a file.
const maxHeader = 64 << 10

// ErrUnknownVersion is wrapped by errors about a manifest file whose header
// names a format version this package does not know (written by a newer
// pcache): upgrade pcache to read it.
var ErrUnknownVersion = errors.New("manifest: unknown format version")

// errBadHeader is wrapped by header errors other than an unknown version.
var errBadHeader = errors.New("bad header")

// fileHeader is the first item of every journal and segment file.
type fileHeader struct {
	Format  string  `cbor:"format"`
	Version uint64  `cbor:"version"`
	Digest  string  `cbor:"digest"`
	Name    string  `cbor:"name"`
	Count   *uint64 `cbor:"count,omitempty"` // segments only: number of records
}

func encodeHeader(format, name string, count *uint64) ([]byte, error) {
	b, err := encMode.Marshal(&fileHeader{Format: format, Version: Version, Digest: digestName, Name: name, Count: count})
	if err != nil {
		return nil, fmt.Errorf("manifest: encode header: %w", err)
	}
	return b, nil
}

// parseHeader decodes the header item at the start of b, checks that it is a
// version-1 header of the wanted format, and returns it with its length.
func parseHeader(b []byte, format string) (fileHeader, int, error) {
	var h fileHeader
	if len(b) > maxHeader {
		b = b[:maxHeader]
	}
	rest, err := headerDecMode.UnmarshalFirst(b, &h)
	if err != nil {
		return h, 0, fmt.Errorf("%w: %v", errBadHeader, err)
	}
	if h.Format != format {
		return h, 0, fmt.Errorf("%w: format %q, want %q", errBadHeader, h.Format, format)
	}
	if h.Version == 0 { // no pcache ever wrote it: damage, not a newer writer
		return h, 0, fmt.Errorf("%w: format version missing or 0", errBadHeader)
	}
	if h.Version != Version {
		return h, 0, fmt.Errorf("%w %d (this pcache reads version %d; upgrade pcache)", ErrUnknownVersion, h.Version, Version)
	}
	if h.Digest != digestName {
		return h, 0, fmt.Errorf("%w: digest %q, want %q", errBadHeader, h.Digest, digestName)
	}
	return h, len(b) - len(rest), nil
}
