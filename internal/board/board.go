// Package board is a file of change counters that every process using a
// cache maps into memory, so a reader learns without a system call whether
// another process on this machine has written since it last looked.
//
// The file (locks/board, 64 KiB) holds 8192 little-endian uint64 counters.
// A writer adds one to a topic's counter after every change it makes (an
// appended manifest record, a compaction); a reader compares the counter
// with the value it saw at its last refresh and skips the refresh while it
// is unchanged. Topics hash onto counters, so two topics may share one: that
// costs a needless refresh, never a missed change. Changes made by other
// machines (rsync into a live cache) bump no counter, so readers also
// refresh on a timer. Where the file cannot be mapped (read-only caches,
// platforms without mmap) every check says "changed", which is always safe.
package board

import (
	"runtime"

	"github.com/zeebo/blake3"
)

const (
	slots = 8192
	size  = slots * 8
)

// Board is a mapped change-counter file; nil is a valid Board on which
// every counter is always "changed". The file is unmapped by Close, or
// once nothing refers to the Board any more: whoever holds it may use it.
type Board struct {
	m *mapping
}

// Topic names one counter of a board.
type Topic uint32

// TopicOf returns the counter of a topic name (such as "manifest:" + a
// function name).
func TopicOf(name string) Topic {
	s := blake3.Sum256([]byte(name))
	return Topic((uint32(s[0])|uint32(s[1])<<8|uint32(s[2])<<16)%(slots-1) + 1)
}

// Open maps the board file at path, creating it if writable is set; on any
// failure it returns nil (a board that always says "changed").
func Open(path string, writable bool) *Board {
	m, ok := openMapping(path, writable)
	if !ok {
		return nil
	}
	b := &Board{m: &m}
	// Unmapped with the Board, not with whatever opened it: an owner that
	// hands the Board on (to the manifests it opens) may be collected
	// while they still read it.
	runtime.AddCleanup(b, (*mapping).close, b.m)
	return b
}

// Load returns the counter of topic t, and false when the board cannot tell
// (nil, or the mapping faulted): the caller must then treat it as changed.
func (b *Board) Load(t Topic) (uint64, bool) {
	if b == nil {
		return 0, false
	}
	return b.m.load(int(t))
}

// Bump adds one to the counter of topic t (best effort).
func (b *Board) Bump(t Topic) {
	if b != nil {
		b.m.add(int(t))
	}
}

// Close unmaps the board now (nothing may use it after). A Board no one
// closes is unmapped once it is collected.
func (b *Board) Close() {
	if b != nil {
		b.m.close()
	}
}
