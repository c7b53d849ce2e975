// Package layout names every file and directory of a pcache cache directory:
// nothing else in pcache spells them, so the on-disk format has one owner.
//
// # A cache directory
//
//	<root>/
//	  pcache.json                  marker: {"format":"pcache-cache","version":1,"digest":"blake3-256","sum":"…"}
//	  README                       a courtesy note for people who find the directory
//	  objects/ab/cdef…             loose objects: the file's bytes hash (BLAKE3-256) to ab+cdef…
//	  objects/ab/cdef….zst         compressed loose objects: one zstd frame whose decompressed
//	                               bytes hash to ab+cdef… (layout CompressedVersion)
//	  objects/pack/<writer>.pcp    packs of small objects, appended by one writer each
//	  objects/pack/<writer>.pci    the sorted index of a sealed pack
//	  manifests/<name>/j-<writer>.pcj   journals: one writer's append-only records
//	  manifests/<name>/s-<hash>.pcs     segments: immutable, sorted, named by their content hash
//	  tmp/                         in-progress writes, named <prefix><host>.<pid>.<random>.tmp
//	  lost+found/                  files moved aside by repair or quarantine
//	  remote/<id>/                 the remote tier's local state, per remote (see package remote):
//	    index/<hash>/s-<hash>.pcs  the function's remote index, mirrored (and mirror.json: how far)
//	    outbox/<writer>.pco        records waiting to be published
//	    state.json                 what this cache learned about the remote
//	  locks/                       lock files and the change board; machine-local, never copied
//	    gc.lock, gc.intent         the gc turnstile (writers shared, gc exclusive)
//	    keys.ofd                   per-key byte-range locks (Linux)
//	    keys/ab/<hex>.lock         per-key lock files (elsewhere)
//	    journals/<journal>.lock    held by a journal's writer
//	    packs/<pack>.lock          held by a pack's writer
//	    outbox/<outbox>.lock       held by an outbox's writer
//	    repack.lock                held while packs are merged or pruned
//	    trim.stamp, trim.lock      when the automatic trim last ran; held while it runs
//	    manifests/<hash>.lock      held while a manifest is compacted, repaired or removed
//	    board                      shared change counters (package board)
//	    retired/<hash>.retired     a file the cache gave up, kept for a grace period (package retire)
//	    retired/<hash>.summary     what one manifest directory's retirement records say (package retire)
//	    trim.stamp                 time of the last automatic trim
//
// <writer> is <host>.<pid>.<random> (fsutil.Unique): no two writers on any
// machines sharing a cache pick the same, so copying caches into each other
// (rsync without --delete) never overwrites one writer's file with another's.
package layout

import (
	"encoding/hex"
	"path/filepath"
	"strings"

	"github.com/zeebo/blake3"
)

// Directory and file names directly under the root.
const (
	ObjectsDir   = "objects"
	PackDir      = "pack" // under objects/
	ManifestsDir = "manifests"
	TmpDir       = "tmp"
	LostFoundDir = "lost+found"
	LocksDir     = "locks"
	RemoteDir    = "remote"
	MarkerFile   = "pcache.json"
	ReadmeFile   = "README"
)

// File name shapes inside manifests/<name>/ and objects/pack/.
const (
	JournalPrefix = "j-"
	JournalExt    = ".pcj"
	SegmentPrefix = "s-"
	SegmentExt    = ".pcs"
	PackExt       = ".pcp"
	PackIndexExt  = ".pci"
	LockExt       = ".lock"
	CompressedExt = ".zst" // a compressed loose object: objects/ab/<62 hex>.zst
	RetiredExt    = ".retired"
	SummaryExt    = ".summary" // locks/retired/<hash>.summary: one directory's retired files (package retire)
)

// Dir is the layout of one cache directory.
type Dir struct{ root string }

// New returns the layout of the cache directory root (made absolute by the
// caller).
func New(root string) Dir { return Dir{root: root} }

// Root returns the cache directory.
func (d Dir) Root() string { return d.root }

func (d Dir) join(elem ...string) string {
	return filepath.Join(append([]string{d.root}, elem...)...)
}

// Marker returns the path of the cache marker file.
func (d Dir) Marker() string { return d.join(MarkerFile) }

// Readme returns the path of the courtesy README.
func (d Dir) Readme() string { return d.join(ReadmeFile) }

// Objects returns the loose-object directory.
func (d Dir) Objects() string { return d.join(ObjectsDir) }

// Packs returns the pack directory.
func (d Dir) Packs() string { return d.join(ObjectsDir, PackDir) }

// Pack returns the path of the pack named name (a PackName).
func (d Dir) Pack(name string) string { return d.join(ObjectsDir, PackDir, name) }

// Manifests returns the directory holding every function's manifest.
func (d Dir) Manifests() string { return d.join(ManifestsDir) }

// Manifest returns the manifest directory of function name (checked with
// CheckName by the caller).
func (d Dir) Manifest(name string) string {
	return d.join(ManifestsDir, filepath.FromSlash(name))
}

// Tmp returns the directory of in-progress writes.
func (d Dir) Tmp() string { return d.join(TmpDir) }

// LostFound returns the directory quarantined files are moved to.
func (d Dir) LostFound() string { return d.join(LostFoundDir) }

// Remote returns the directory of the remote tier's local state.
func (d Dir) Remote() string { return d.join(RemoteDir) }

// RemoteIndex returns the directory mirroring the remote index of function
// name of the remote identified by remote (a hash of its URL).
func (d Dir) RemoteIndex(remote, name string) string {
	sum := blake3.Sum256([]byte(name))
	return d.join(RemoteDir, remote, "index", hex.EncodeToString(sum[:16]))
}

// RemoteOutbox returns the directory of records waiting to be published to
// the remote identified by remote.
func (d Dir) RemoteOutbox(remote string) string { return d.join(RemoteDir, remote, "outbox") }

// OutboxExt ends the name of an outbox file: <writer>.<random>.pco.
const OutboxExt = ".pco"

// MirrorState is the name of the file, in a remote index mirror's
// directory, that says how far the mirror has read the remote's log.
const MirrorState = "mirror.json"

// RemoteState returns the file of what this cache knows about the remote
// identified by remote (whether it honours create-only writes).
func (d Dir) RemoteState(remote string) string { return d.join(RemoteDir, remote, "state.json") }

// OutboxLock returns the writer lock of the outbox file named outbox.
func (d Dir) OutboxLock(outbox string) string { return d.join(LocksDir, "outbox", outbox+LockExt) }

// Locks returns the lock directory.
func (d Dir) Locks() string { return d.join(LocksDir) }

// GCLock and GCIntent return the two files of the gc turnstile.
func (d Dir) GCLock() string   { return d.join(LocksDir, "gc.lock") }
func (d Dir) GCIntent() string { return d.join(LocksDir, "gc.intent") }

// KeyRangeLock returns the file whose bytes are per-key locks on Linux.
func (d Dir) KeyRangeLock() string { return d.join(LocksDir, "keys.ofd") }

// KeyLocks returns the directory of per-key lock files (other platforms).
func (d Dir) KeyLocks() string { return d.join(LocksDir, "keys") }

// KeyLock returns the lock file of the key lock id (other platforms).
func (d Dir) KeyLock(id [32]byte) string {
	x := hex.EncodeToString(id[:])
	return d.join(LocksDir, "keys", x[:2], x[2:]+LockExt)
}

// JournalLocks returns the directory of journal writer locks.
func (d Dir) JournalLocks() string { return d.join(LocksDir, "journals") }

// JournalLock returns the writer lock of the journal file named journal.
func (d Dir) JournalLock(journal string) string {
	return d.join(LocksDir, "journals", journal+LockExt)
}

// PackLocks returns the directory of pack writer locks.
func (d Dir) PackLocks() string { return d.join(LocksDir, "packs") }

// PackLock returns the writer lock of the pack named pack.
func (d Dir) PackLock(pack string) string { return d.join(LocksDir, "packs", pack+LockExt) }

// RepackLock returns the lock held while packs are merged or pruned.
func (d Dir) RepackLock() string { return d.join(LocksDir, "repack.lock") }

// ManifestLock returns the maintenance lock of function name's manifest.
func (d Dir) ManifestLock(name string) string {
	sum := blake3.Sum256([]byte(name))
	return d.join(LocksDir, "manifests", hex.EncodeToString(sum[:16])+LockExt)
}

// Retired returns the directory of retirement records (package retire).
func (d Dir) Retired() string { return d.join(LocksDir, "retired") }

// RetiredRecord returns the retirement record of the file at rel (slash
// form, relative to the root): named by a hash, so any rel fits one name.
func (d Dir) RetiredRecord(rel string) string {
	return d.join(LocksDir, "retired", RetiredRecordName(rel))
}

// RetiredRecordName returns the base name of RetiredRecord(rel): what a
// listing of Retired shows when rel is retired.
func RetiredRecordName(rel string) string {
	sum := RetiredRecordHash([]byte(rel))
	return hex.EncodeToString(sum[:]) + RetiredExt
}

// RetiredRecordHash returns the hash RetiredRecordName(rel) spells in hex,
// without allocating: readers match it against a listing of Retired.
func RetiredRecordHash(rel []byte) [16]byte {
	sum := blake3.Sum256(rel)
	return [16]byte(sum[:16])
}

// RetiredSummary returns the summary of the retirement records of the
// files in directory rel (slash form, relative to the root): named by a
// hash, like the records, with an extension of its own.
func (d Dir) RetiredSummary(rel string) string {
	sum := blake3.Sum256([]byte("dir " + rel))
	return d.join(LocksDir, "retired", hex.EncodeToString(sum[:16])+SummaryExt)
}

// Board returns the shared change-counter file.
func (d Dir) Board() string { return d.join(LocksDir, "board") }

// TrimStamp returns the file whose content is the time of the last
// automatic trim.
func (d Dir) TrimStamp() string { return d.join(LocksDir, "trim.stamp") }

// TrimLock returns the lock held by the process running the automatic trim.
func (d Dir) TrimLock() string { return d.join(LocksDir, "trim.lock") }

// ObjectRel returns the slash path of loose object id relative to the root,
// for reports: "objects/ab/cdef…".
func ObjectRel(id [32]byte) string {
	x := hex.EncodeToString(id[:])
	return ObjectsDir + "/" + x[:2] + "/" + x[2:]
}

// Rel returns p relative to the root in slash form when it lies inside it,
// else p unchanged: how reports name files.
func (d Dir) Rel(p string) string {
	if p == "" || !filepath.IsAbs(p) {
		return filepath.ToSlash(p)
	}
	r, err := filepath.Rel(d.root, p)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return p
	}
	return filepath.ToSlash(r)
}

// JournalName returns the journal file name of a writer (fsutil.Unique).
func JournalName(writer string) string { return JournalPrefix + writer + JournalExt }

// IsJournalName reports whether n is shaped like a journal file name.
func IsJournalName(n string) bool {
	return len(n) > len(JournalPrefix)+len(JournalExt) && strings.HasPrefix(n, JournalPrefix) &&
		strings.HasSuffix(n, JournalExt)
}

// SegmentName returns the file name of a segment whose content hashes to sum.
func SegmentName(sum []byte) string { return SegmentPrefix + hex.EncodeToString(sum) + SegmentExt }

// IsSegmentName reports whether n is shaped like a segment file name.
func IsSegmentName(n string) bool {
	if len(n) != len(SegmentPrefix)+64+len(SegmentExt) || !strings.HasPrefix(n, SegmentPrefix) || !strings.HasSuffix(n, SegmentExt) {
		return false
	}
	return IsLowerHex(n[len(SegmentPrefix):len(SegmentPrefix)+64], 64)
}

// PackName returns the pack file name of a writer (fsutil.Unique).
func PackName(writer string) string { return writer + PackExt }

// IsPackName reports whether n is shaped like a pack file name.
func IsPackName(n string) bool {
	return len(n) > len(PackExt) && strings.HasSuffix(n, PackExt) && !strings.HasPrefix(n, ".")
}

// PackIndexName returns the index file name of the pack named pack.
func PackIndexName(pack string) string { return strings.TrimSuffix(pack, PackExt) + PackIndexExt }

// IsPackIndexName reports whether n is shaped like a pack index name.
func IsPackIndexName(n string) bool {
	return len(n) > len(PackIndexExt) && strings.HasSuffix(n, PackIndexExt) && !strings.HasPrefix(n, ".")
}

// IsLowerHex reports whether s is exactly n lowercase hex digits.
func IsLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// CompressedObjectRel is ObjectRel of the compressed form of object id:
// "objects/ab/cdef….zst".
func CompressedObjectRel(id [32]byte) string { return ObjectRel(id) + CompressedExt }

// ParseObjectName reports whether the entry name of objects/<shard>/<name>
// names a raw loose object, and returns its ID.
func ParseObjectName(shard, name string) ([32]byte, bool) {
	var id [32]byte
	if !IsLowerHex(shard, 2) || !IsLowerHex(name, 62) {
		return id, false
	}
	hex.Decode(id[:1], []byte(shard))
	hex.Decode(id[1:], []byte(name))
	return id, true
}
