package manifest

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/pcache/pcache/internal/manifest/record"
)

// Problem is one defect found in a manifest file. Readers skip what is
// damaged and log it once (Options.Logf); Check lists every problem of a
// manifest.
type Problem struct {
	Path   string // the file
	Kind   string // one of the Kind* constants
	Detail string // human-readable explanation
	Offset int64  // byte offset in the file where the problem starts (0 if not applicable)
}

// Problem kinds.
const (
	KindTornTail       = "torn-tail"       // the file ends inside a record, or stops being records: the rest is ignored
	KindBadChecksum    = "bad-checksum"    // a record's CRC does not match: the record is skipped
	KindBadRecord      = "bad-record"      // a record's checksum matches but it is not a valid record.Entry: skipped
	KindNonCanonical   = "non-canonical"   // a record decodes but is not in canonical form (still used)
	KindBadHeader      = "bad-header"      // the file's header is missing or malformed: the file is ignored
	KindUnknownVersion = "unknown-version" // the header names a format version this pcache cannot read
	KindBadSegment     = "bad-segment"     // a segment's structure (trailer, index, order) is damaged
	KindHashMismatch   = "hash-mismatch"   // a segment's content does not hash to its name
	KindStray          = "stray"           // a file in a manifest directory that is not a manifest file
)

// String formats p as one line: path, kind, offset and detail.
func (p Problem) String() string {
	if p.Offset > 0 {
		return fmt.Sprintf("%s: %s at offset %d: %s", p.Path, p.Kind, p.Offset, p.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", p.Path, p.Kind, p.Detail)
}

// problemSet collects problems without duplicates (readers meet the same
// damage on every refresh) and up to a bound.
type problemSet struct {
	mu sync.Mutex
	m  map[problemKey]Problem
}

type problemKey struct {
	path, kind string
	off        int64
}

const maxProblems = 1000

// add records p and reports whether it is new.
func (s *problemSet) add(p Problem) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[problemKey]Problem)
	}
	k := problemKey{p.Path, p.Kind, p.Offset}
	if _, ok := s.m[k]; ok || len(s.m) >= maxProblems {
		return false
	}
	s.m[k] = p
	return true
}

// list returns the problems recorded so far, sorted.
func (s *problemSet) list() []Problem {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Problem, 0, len(s.m))
	for _, p := range s.m {
		out = append(out, p)
	}
	sortProblems(out)
	return out
}

func sortProblems(ps []Problem) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Path != ps[j].Path {
			return ps[i].Path < ps[j].Path
		}
		if ps[i].Offset != ps[j].Offset {
			return ps[i].Offset < ps[j].Offset
		}
		return ps[i].Kind < ps[j].Kind
	})
}

// isDamage reports whether an error from opening a file is about its content
// (reported as a Problem) rather than an I/O failure (returned).
func isDamage(err error) bool {
	return errors.Is(err, errBadSegment) || errors.Is(err, record.ErrBadHeader) || errors.Is(err, record.ErrUnknownVersion)
}

// fileProblem describes a file that could not be opened because of damage.
func fileProblem(path string, err error) Problem {
	kind := KindBadSegment
	switch {
	case errors.Is(err, record.ErrUnknownVersion):
		kind = KindUnknownVersion
	case errors.Is(err, record.ErrBadHeader):
		kind = KindBadHeader
	}
	return Problem{Path: path, Kind: kind, Detail: err.Error()}
}
