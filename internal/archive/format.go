// Package archive moves one function of a cache between machines: Export
// writes its entries and objects to a plain tar, Import verifies such a tar
// and adds it to a cache. It is apart from package maintain so that programs
// that link the library never link archive/tar (whose os/user needs cgo: a
// dynamically linked binary starts milliseconds later).
package archive

import (
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
)

// The export archive is a plain tar that any tar and CBOR tool can read:
//
//	pcache-export.json   header: {"format":"pcache-export","version":1,"name":…,"entries":N,"objects":M[,"compression":"zstd"]}
//	entries.cbor         the function's live entries, a CBOR sequence of archiveEntry maps
//	objects/ab/cdef…     every object those entries reference, named as in the store
//
// in that order: the header first so a reader knows what it holds before
// reading anything large, the entries before the objects so import can tell
// which objects it needs.
const (
	compressionZstd = "zstd" // archiveHeaderV1.Compression
	archiveFormat   = "pcache-export"
	archiveVersion  = 1
	archiveHeader   = "pcache-export.json"
	archiveEntries  = "entries.cbor"

	maxHeaderBytes  = 64 << 10 // a header is a few hundred bytes
	maxEntriesBytes = 1 << 30  // entries (with their key bytes) of one function
	maxKeyBytes     = 64 << 20
)

// archiveHeaderV1 is the content of pcache-export.json.
type archiveHeaderV1 struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Name    string `json:"name"`
	Entries int    `json:"entries"`
	Objects int    `json:"objects"`
	Created string `json:"created,omitempty"`
	// Compression is "zstd" when the exporting cache stored some of the
	// objects compressed: an importer compresses them again where that
	// pays (each object is sampled). The objects in the archive are
	// always their plain bytes (b3sum checks them, any release imports
	// them; one before compression ignores the field and stores them raw).
	Compression string `json:"compression,omitempty"`
}

// archiveEntry is one manifest entry as stored in entries.cbor, with text
// map keys so any CBOR tool shows what it is.
type archiveEntry struct {
	KeyHash []byte           `cbor:"key_hash"`
	Key     []byte           `cbor:"key,omitempty"`
	Time    int64            `cbor:"time,omitempty"`
	Result  []byte           `cbor:"result,omitempty"`
	Size    int64            `cbor:"size"`
	Codec   string           `cbor:"codec,omitempty"`
	Outs    []archiveOutFile `cbor:"outs,omitempty"`
	Type    []byte           `cbor:"type,omitempty"` // result-type fingerprint (absent in entries written before fingerprints)
}

type archiveOutFile struct {
	Arg    string        `cbor:"arg"`
	Object []byte        `cbor:"object"`
	Size   int64         `cbor:"size"`
	Mode   uint32        `cbor:"mode,omitempty"`
	Paths  []archivePath `cbor:"paths,omitempty"`
}

type archivePath struct {
	Path    string `cbor:"path"`
	MtimeNs int64  `cbor:"mtime_ns,omitempty"`
	Size    int64  `cbor:"size"`
}

var archiveEncMode = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err) // static options
	}
	return em
}()

var archiveDecMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  16,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 10,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(err) // static options
	}
	return dm
}()

func toArchive(e record.Entry) archiveEntry {
	a := archiveEntry{KeyHash: append([]byte(nil), e.KeyHash[:]...), Key: e.Key, Time: e.Time, Size: e.Size, Codec: e.Codec}
	if e.Result != ([32]byte{}) {
		a.Result = append([]byte(nil), e.Result[:]...)
	}
	if e.Type != ([32]byte{}) {
		a.Type = append([]byte(nil), e.Type[:]...)
	}
	for _, o := range e.Outs {
		ao := archiveOutFile{Arg: o.Arg, Object: append([]byte(nil), o.Object[:]...), Size: o.Size, Mode: o.Mode}
		for _, p := range o.Paths {
			ao.Paths = append(ao.Paths, archivePath{Path: p.Path, MtimeNs: p.MtimeNs, Size: p.Size})
		}
		a.Outs = append(a.Outs, ao)
	}
	return a
}

// fromArchive validates an archived entry and converts it back.
func fromArchive(a archiveEntry) (record.Entry, error) {
	var e record.Entry
	if len(a.KeyHash) != 32 {
		return e, fmt.Errorf("key_hash has %d bytes, want 32", len(a.KeyHash))
	}
	copy(e.KeyHash[:], a.KeyHash)
	if len(a.Key) > maxKeyBytes {
		return e, fmt.Errorf("entry %x: key of %d bytes is too large", a.KeyHash[:6], len(a.Key))
	}
	e.Key, e.Time, e.Codec = a.Key, a.Time, a.Codec
	if a.Size < 0 {
		return e, fmt.Errorf("entry %x: negative size", a.KeyHash[:6])
	}
	e.Size = a.Size
	switch len(a.Result) {
	case 0:
	case 32:
		copy(e.Result[:], a.Result)
	default:
		return e, fmt.Errorf("entry %x: result id has %d bytes, want 32", a.KeyHash[:6], len(a.Result))
	}
	switch len(a.Type) {
	case 0:
	case 32:
		copy(e.Type[:], a.Type)
	default:
		return e, fmt.Errorf("entry %x: result type has %d bytes, want 32", a.KeyHash[:6], len(a.Type))
	}
	for _, ao := range a.Outs {
		if len(ao.Object) != 32 || ao.Size < 0 {
			return e, fmt.Errorf("entry %x: out file %q: bad object id or size", a.KeyHash[:6], ao.Arg)
		}
		o := record.OutFile{Arg: ao.Arg, Size: ao.Size, Mode: ao.Mode}
		copy(o.Object[:], ao.Object)
		for _, p := range ao.Paths {
			o.Paths = append(o.Paths, record.PathRecord{Path: p.Path, MtimeNs: p.MtimeNs, Size: p.Size})
		}
		e.Outs = append(e.Outs, o)
	}
	return e, nil
}

// objectFromArchiveName parses "objects/ab/<62 hex>"; anything else, and in
// particular any name with "..", a leading "/" or a backslash, is refused.
func objectFromArchiveName(name string) (cas.ID, bool) {
	rest, ok := strings.CutPrefix(name, layout.ObjectsDir+"/")
	if !ok || len(rest) != 65 || rest[2] != '/' {
		return cas.ID{}, false
	}
	id, ok := layout.ParseObjectName(rest[:2], rest[3:])
	return id, ok
}
