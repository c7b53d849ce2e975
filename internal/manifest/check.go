package manifest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/lock"
	"github.com/pcache/pcache/internal/manifest/record"
)

// maxCheckSegment bounds the size of a segment Check reads into memory
// (4 GiB; readers map segments instead).
const maxCheckSegment = 4 << 30

// planted reports whether err is about what is at a path rather than an I/O
// failure: not a regular file, sparse, or over its size limit. Such a file
// is a Problem, never a failure of the whole check.
func planted(err error) bool {
	return errors.Is(err, fsutil.ErrNotRegular) || errors.Is(err, fsutil.ErrHollow)
}

// Check reads every file of one manifest completely and returns what is
// wrong with them: torn or damaged records, bad headers, unknown versions,
// damaged segment structure, segments whose content does not hash to their
// name, records that are not in canonical form (each decoded record is
// re-encoded and compared byte for byte), and stray files. The error is for
// I/O failures only (and wraps fs.ErrNotExist when the manifest does not
// exist).
func Check(d layout.Dir, name string) ([]Problem, error) {
	dir, err := manifestDir(d, name)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("manifest: check %s: %w", name, err)
	}
	return check(dir, name)
}

func check(dir, name string) ([]Problem, error) {
	l, err := listDir(dir)
	if err != nil {
		return nil, err
	}
	var ps []Problem
	report := func(p Problem) { ps = append(ps, p) }
	for _, n := range l.strays {
		report(Problem{Path: filepath.Join(dir, n), Kind: KindStray, Detail: "not a manifest file"})
	}
	for _, n := range l.journals {
		if err := checkJournal(filepath.Join(dir, n), name, report); err != nil {
			return nil, err
		}
	}
	for _, n := range l.segments {
		if err := checkSegment(filepath.Join(dir, n), name, report); err != nil {
			return nil, err
		}
	}
	sortProblems(ps)
	return ps, nil
}

// checkJournal checks one journal of function name. A torn tail may be a
// write in progress, so a journal found torn is read once more and judged by
// the second read. A header naming another function is a bad header: the
// header is the only part of a journal no checksum covers, so this is how a
// damaged name is seen (and a journal moved into another function's
// directory, whose keys would answer that function's calls).
func checkJournal(path, name string, report func(Problem)) error {
	var ps []Problem
	for try := 0; try < 2; try++ {
		data, err := fsutil.ReadRegular(path, maxJournal)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // compacted away meanwhile
			}
			if planted(err) {
				report(Problem{Path: path, Kind: KindBadHeader, Detail: err.Error() + "; the journal is ignored"})
				return nil
			}
			return fmt.Errorf("manifest: check: %w", err)
		}
		ps = ps[:0]
		add := func(p Problem) { ps = append(ps, p) }
		h, hn, err := record.ParseHeader(data, record.JournalFormat)
		if err != nil {
			add(fileProblem(path, err))
			break
		}
		if h.Name != name {
			add(Problem{Path: path, Kind: KindBadHeader, Detail: fmt.Sprintf("header names function %q, but the journal is in the manifest of %q", h.Name, name)})
		}
		scanRecords(path, data[hn:], int64(hn), true, true, add)
		if len(ps) == 0 || ps[len(ps)-1].Kind != KindTornTail {
			break
		}
	}
	for _, p := range ps {
		report(p)
	}
	return nil
}

// checkSegment checks one segment: content hash against the name, trailer,
// index and header, then every record in file order (framing, checksum,
// strict decoding, canonical form, strictly increasing keys) against the
// index entry that must point at it.
func checkSegment(path, name string, report func(Problem)) error {
	data, err := fsutil.ReadRegular(path, maxCheckSegment)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if planted(err) {
			report(Problem{Path: path, Kind: KindBadSegment, Detail: err.Error()})
			return nil
		}
		return fmt.Errorf("manifest: check: %w", err)
	}
	sum := blake3.Sum256(data)
	if want := filepath.Base(path); layout.SegmentName(sum[:]) != want {
		report(Problem{Path: path, Kind: KindHashMismatch, Detail: fmt.Sprintf("content hashes to %s", hex.EncodeToString(sum[:]))})
	}
	s := &segment{path: path, data: data}
	if err := s.validate(int64(len(data))); err != nil {
		report(fileProblem(path, err))
		return nil
	}
	if h, _, err := record.ParseHeader(data, record.SegmentFormat); err == nil && h.Name != name {
		report(Problem{Path: path, Kind: KindBadHeader, Detail: fmt.Sprintf("header names function %q, but the segment is in the manifest of %q", h.Name, name)})
	}
	off := s.dataStart
	var prev []byte
	i := 0
	for off < s.indexOff {
		f, err := record.ParseFrame(data[off:s.indexOff])
		if err != nil {
			report(Problem{Path: path, Kind: KindBadSegment, Offset: off, Detail: fmt.Sprintf("record framing: %v; records after this are not checked in file order", err)})
			break
		}
		at := off
		off += int64(f.N)
		idx := i
		i++
		if idx >= s.count {
			report(Problem{Path: path, Kind: KindBadSegment, Offset: at, Detail: "more records than index entries"})
			break
		}
		key, ioff, _ := s.entry(idx)
		if ioff != at {
			report(Problem{Path: path, Kind: KindBadSegment, Offset: at, Detail: fmt.Sprintf("index entry %d points at offset %d", idx, ioff)})
		}
		if !f.CRCOK {
			report(Problem{Path: path, Kind: KindBadChecksum, Offset: at, Detail: "record checksum mismatch"})
			continue
		}
		var e record.Entry
		if err := record.Decode(f.Payload, &e); err != nil {
			report(Problem{Path: path, Kind: KindBadRecord, Offset: at, Detail: err.Error()})
			continue
		}
		checkCanonical(path, at, &e, f, report)
		if !bytes.Equal(key, e.KeyHash[:]) {
			report(Problem{Path: path, Kind: KindBadSegment, Offset: at, Detail: fmt.Sprintf("index entry %d names key %x, record has %x", idx, key[:8], e.KeyHash[:8])})
		}
		if prev != nil && bytes.Compare(e.KeyHash[:], prev) <= 0 {
			report(Problem{Path: path, Kind: KindBadSegment, Offset: at, Detail: "records not in strictly increasing key order"})
		}
		prev = e.KeyHash[:]
	}
	if off == s.indexOff && i != s.count {
		report(Problem{Path: path, Kind: KindBadSegment, Offset: s.indexOff, Detail: fmt.Sprintf("%d records for %d index entries", i, s.count)})
	}
	return nil
}

// repairable reports whether Repair rewrites a file with this problem.
// Unknown versions are left alone (a newer pcache can read them) and strays
// are not ours.
func repairable(kind string) bool {
	return kind != KindUnknownVersion && kind != KindStray
}

// Repair rewrites the damaged files of one manifest: it gathers every good
// record of every file Check finds a problem in (other than unknown-version
// files, which a newer pcache can read, and stray files), writes the
// resolved records in canonical form to a new segment, and only then deletes
// the damaged files. A damaged journal that a live writer still holds is left
// alone. It holds the manifest's compaction lock throughout.
func Repair(d layout.Dir, name string) error {
	_, err := RepairFiles(d, name)
	return err
}

// RepairResult says what RepairFiles did.
type RepairResult struct {
	Rewrote int      // damaged files replaced by a segment of their good records
	Live    []string // damaged journals left alone: a running writer holds them
}

// RepairFiles is Repair that says what it rewrote and which damaged
// journals it left to their running writers, so a caller never reports a
// repair that did not happen.
func RepairFiles(d layout.Dir, name string) (res RepairResult, err error) {
	dir, err := manifestDir(d, name)
	if err != nil {
		return res, err
	}
	lk, err := lockManifest(d, name, "repair", true)
	if err != nil {
		return res, err
	}
	defer lk.Release()
	ps, err := check(dir, name)
	if err != nil {
		return res, err
	}
	damaged := make(map[string]bool)
	for _, p := range ps {
		if repairable(p.Kind) {
			damaged[p.Path] = true
		}
	}
	if len(damaged) == 0 {
		return res, nil
	}
	good := make(map[[32]byte]*rec)
	ignore := func(Problem) {}
	var remove []string
	var locks []func()
	defer func() {
		for _, unlock := range locks {
			unlock()
		}
	}()
	for path := range damaged {
		base := filepath.Base(path)
		if layout.IsJournalName(base) {
			jl, ok, err := lock.Try(d.JournalLock(base), lock.Exclusive)
			if err != nil {
				return res, err
			}
			if !ok {
				res.Live = append(res.Live, path) // a live writer's: leave it
				continue
			}
			locks = append(locks, jl.Release)
			st := newJState(dir, base)
			if _, _, err := st.readTail(ignore); err != nil && !errors.Is(err, errVanished) {
				return res, err
			}
			for _, r := range st.recs {
				mergeInto(good, r)
			}
			remove = append(remove, path, d.JournalLock(base))
			continue
		}
		recs, err := salvageSegment(path)
		if err != nil {
			return res, err
		}
		mergeInto(good, recs...)
		remove = append(remove, path)
	}
	if len(remove) == 0 {
		return res, nil // every damaged file is a live writer's
	}
	src := newSliceSource(good)
	out := make([][]byte, len(src.recs))
	for i, r := range src.recs {
		if out[i], err = record.Encode(&r.e); err != nil {
			return res, err
		}
	}
	if len(out) > 0 {
		if _, err := writeSegment(d.Tmp(), dir, name, len(out), func(i int) (*record.KeyHash, []byte, error) {
			return &src.recs[i].e.KeyHash, out[i], nil
		}, true); err != nil {
			return res, fmt.Errorf("manifest: repair %s: %w", name, err)
		}
	}
	for _, p := range remove {
		if err := d.Remove(p); err != nil { // follows no link out of the cache
			return res, fmt.Errorf("manifest: repair %s: %w", name, err)
		}
	}
	res.Rewrote = len(damaged) - len(res.Live)
	return res, nil
}

// salvageSegment returns every good record of a possibly damaged segment:
// those reachable in file order from the header, and those reachable
// through the index if the segment's structure is intact.
func salvageSegment(path string) ([]*rec, error) {
	data, err := fsutil.ReadRegular(path, maxCheckSegment)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || planted(err) {
			return nil, nil // nothing to salvage from a sparse file or a link
		}
		return nil, fmt.Errorf("manifest: repair: %w", err)
	}
	ignore := func(Problem) {}
	var recs []*rec
	if _, hn, err := record.ParseHeader(data, record.SegmentFormat); err == nil {
		recs, _, _ = scanRecords(path, data[hn:], int64(hn), true, false, ignore)
	}
	s := &segment{path: path, data: data}
	if s.validate(int64(len(data))) == nil {
		src := &segSource{s: s, report: ignore}
		for r, ok := src.next(); ok; r, ok = src.next() {
			if r.load() {
				recs = append(recs, r)
			}
		}
	}
	return recs, nil
}
