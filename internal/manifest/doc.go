// Package manifest is the storage engine of each cached function's index: a
// map from entry key to record.Entry, kept in append-only journals and immutable sorted segments.
//
// # Files
//
// A function's manifest directory (layout.Dir.Manifest) holds two kinds of
// files, named by package layout; every other name (sub-directories of
// nested functions, strays) is ignored.
//
//	journal   one writer's append-only log, named uniquely per writer
//	segment   immutable, sorted, indexed; named by its content hash
//
// Both are CBOR sequences (RFC 8742) that any CBOR tool can read: a header,
// then records framed as package record specifies. A segment holds one
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
// exists without its header), and holds the journal's writer lock while it
// may append. A batch is one write(2) of whole records, after which the
// function's counter on the change board is bumped. After
// Options.JournalLimit records the writer closes its journal and compacts in
// the background (see Compact): dead journals become segments, and segments
// of one size class are merged four or more at a time, so an insert costs
// O(1) amortised per size class and no insert rewrites the manifest. Close
// compacts the journal it closes when it holds 64 records or more, so the
// processes that come after a fill do not read the fill's last journal
// whole; when the closing Manifest wrote at least half of all records (a
// fill), it merges every segment into one.
//
// # Reading and damage
//
// A reader reads a journal up to its last complete record and later reads
// only what was appended; it looks again only when the change board says
// another process wrote (or Options.FullRefresh passed). A record with a bad
// checksum is skipped; bytes that are not a record end the journal (a torn
// tail from a crash, or a copy caught mid-write). A segment is mapped into
// memory and its index searched in place, so opening a manifest of a million
// entries reads a few pages. Damage is never returned as an entry and never
// a panic: it is skipped and logged, and Check and Repair find all of it.
//
// # Resolution and merging caches
//
// One key may have records in several files (rewrites, tombstones, copies
// from other machines); record.Newer picks the winner, and a function-wide
// tombstone (ForgetAll) forgets every record written before it. The rule
// depends only on the records, never on which file holds them, so every
// machine resolves a key alike. Because journal names are unique per writer
// and segment names are content hashes, copying two cache directories into
// each other (rsync -a A/ B/ and back, without --delete) yields the union of
// their entries. Compactions keep tombstones for the same reason.
package manifest
