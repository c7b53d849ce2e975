// Package manifest stores each cached function's index: a map from key hash
// to record.Entry (result object, size, out files), in CBOR files under <root>/manifests/<name>/.
//
// # Files
//
// A function's manifest directory holds two kinds of files; every other name
// (sub-directories of nested functions, strays) is ignored.
//
//	j-<host>.<pid>.<random>.pcj   journal: one writer's append-only log
//	s-<BLAKE3-256 hex>.pcs        segment: immutable, sorted, indexed; named by its content hash
//
// Both are CBOR sequences (RFC 8742) that any CBOR tool can read. Each starts
// with a header map {"format": "pcache-journal" | "pcache-segment",
// "version": 1, "digest": "blake3-256", "name": <function name>} (segments
// add "count"); a file with another version is refused with
// record.ErrUnknownVersion. Records follow, each the array [payload, crc]: payload
// is a byte string holding the record.Entry encoded as a deterministic CBOR map
// (RFC 8949 §4.2.1) with one-letter keys
//
//	h key hash · k key · t time (unix ns) · d tombstone · r result ID ·
//	s size · c codec · f out files [{a arg · o object · s size · m mode ·
//	p paths [{p path · t mtime ns · s size}]}]
//
// and crc is the CRC-32C (Castagnoli) of the payload. A segment holds one
// record per key, sorted by key hash, then an index (a byte string of
// count×40 bytes: key hash, big-endian uint64 file offset of the record) and
// a 9-byte trailer: the index's offset as a CBOR uint deliberately written in
// the 8-byte form (0x1b + big-endian uint64), not shortest form, so that it
// has a fixed size and can be read from the end of the file.
//
// # Writing
//
// Each Manifest appends to its own journal, creating it on first use (header
// and first records written to a temp file and renamed in, so no journal
// exists without its header), and holds a flock on
// <root>/locks/journals/<journal>.lock while it may append. A batch is one
// write(2) of whole records. After Options.JournalLimit records the writer
// closes its journal and compacts in the background (see Compact): dead
// journals become segments, and segments of one size class are merged four
// or more at a time, so an insert costs O(1) amortised per size class and no
// insert rewrites the manifest.
//
// # Reading and damage
//
// A reader reads a journal up to its last complete record and later reads
// only what was appended. A record with a bad checksum is skipped; bytes that
// are not a record end the journal (a torn tail from a crash, or a copy
// caught mid-write). A segment is mapped into memory and its index searched
// in place, so opening a manifest of a million entries reads a few pages.
// Damage is never returned as an entry and never a panic: it is skipped and
// reported through Problems, Check and Repair.
//
// # Resolution and merging caches
//
// One key may have records in several files (rewrites, tombstones, copies
// from other machines). The record with the greatest Time wins; on equal
// Times, the one whose canonical encoding is bytewise greatest. If the
// winner is a tombstone the key is absent. The rule depends only on the
// records, never on which file holds them, so every machine resolves a key
// alike. Because journal names are unique per writer and segment names are
// content hashes, copying two cache directories into each other (rsync -a
// A/ B/ and back, without --delete) yields the union of their entries.
// Compactions keep tombstones for the same reason.
package manifest
