package manifest

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/manifest/record"
)

// A journal file (j-<host>.<pid>.<random>.pcj) belongs to one writer, a
// *Manifest, which holds its writer lock (layout.Dir.JournalLock) for as
// long as it may append. It is the header item followed by framed
// records in append order; the same key may appear more than once.

// scanRecords parses the framed records in buf, which holds the file's bytes
// from offset base on. It returns the records that are intact and valid, and
// the file offset just past the last frame it consumed (a frame with a bad
// checksum is consumed and skipped). An incomplete frame at the end of buf
// stops the scan without consuming it; it is reported only when complete is
// set (the file is not being appended to). Bytes that are not a frame stop
// the scan for good: stop is set. With strict, records that are not in
// canonical form are reported too.
func scanRecords(path string, buf []byte, base int64, complete, strict bool, report func(Problem)) (recs []*rec, end int64, stop bool) {
	i := 0
	for i < len(buf) {
		off := base + int64(i)
		f, err := record.ParseFrame(buf[i:])
		if err == record.ErrShort {
			if complete {
				report(Problem{Path: path, Kind: KindTornTail, Offset: off, Detail: fmt.Sprintf("file ends inside a record (%d bytes ignored)", len(buf)-i)})
			}
			break
		}
		if err != nil {
			report(Problem{Path: path, Kind: KindTornTail, Offset: off, Detail: fmt.Sprintf("not a record (%d bytes ignored)", len(buf)-i)})
			return recs, off, true
		}
		i += f.N
		if !f.CRCOK {
			report(Problem{Path: path, Kind: KindBadChecksum, Offset: off, Detail: "record checksum mismatch; record skipped"})
			continue
		}
		var e record.Entry
		if err := record.Decode(f.Payload, &e); err != nil {
			report(Problem{Path: path, Kind: KindBadRecord, Offset: off, Detail: err.Error()})
			continue
		}
		if strict {
			checkCanonical(path, off, &e, f, report)
		}
		recs = append(recs, &rec{e: e, raw: f.Payload})
	}
	return recs, base + int64(i), false
}

// checkCanonical reports a record whose frame or payload is not the canonical
// encoding of what it decodes to.
func checkCanonical(path string, off int64, e *record.Entry, f record.Frame, report func(Problem)) {
	if err := record.Canonical(f.Payload, e); err != nil {
		report(Problem{Path: path, Kind: KindNonCanonical, Offset: off, Detail: err.Error()})
	} else if !f.Minimal {
		report(Problem{Path: path, Kind: KindNonCanonical, Offset: off, Detail: "record frame is not in shortest form"})
	}
}

// maxJournal bounds the size of a journal a reader reads (256 MiB): it is
// read into memory, so a larger one, or a sparse one (fsutil.Hollow), is
// refused as damaged before anything is allocated. Writers start a new
// journal at journalRoll bytes, far below it.
const maxJournal = 256 << 20

// journalRoll is the size after which a writer starts a new journal (as it
// does after Options.JournalLimit records): 64 MiB.
const journalRoll = 64 << 20

// jstate is a reader's progress through one journal file.
type jstate struct {
	name, path string
	fi         os.FileInfo       // identity of the file last read
	size       int64             // its size when last read
	off        int64             // file offset read up to (0: header not read yet)
	stopped    bool              // bad header or framing: ignore the rest until the file is replaced
	recs       map[[32]byte]*rec // this journal's records, resolved
	shared     bool              // recs is shared with a clone: copied before it changes (ownRecs)
}

func newJState(dir, name string) *jstate {
	return &jstate{name: name, path: dir + string(os.PathSeparator) + name, recs: make(map[[32]byte]*rec)}
}

// clone is a copy of st that readTail may advance on its own. The two
// share recs until one of them changes it (nothing changes a rec once
// made): a compaction clones every journal of the view and most have
// nothing new to read, so copying maps of thousands of records up front
// cost a writer a fifth of its time. The caller serialises clone with
// st's own changes (the Manifest's mu).
func (st *jstate) clone() *jstate {
	st.shared = true
	c := *st
	return &c
}

// ownRecs makes st.recs st's own before it changes.
func (st *jstate) ownRecs() {
	if st.shared {
		st.recs, st.shared = maps.Clone(st.recs), false
	}
}

// errVanished says a file listed a moment ago is gone: a compaction or a
// Remove deleted it. The caller lists the directory again.
var errVanished = errors.New("file vanished")

// readTail reads what was appended to the journal since the last call and
// returns the new records. replaced reports that the file is not the one read
// before (rsync replaced it); st was reset and read from the start, and the
// caller must forget the records it had from it. A file that is gone returns
// errVanished; an unknown format version returns an error wrapping
// record.ErrUnknownVersion (and st ignores the file from then on). Damage is
// reported, not returned.
func (st *jstate) readTail(report func(Problem)) (recs []*rec, replaced bool, err error) {
	if st.fi != nil { // read before: an lstat tells whether it changed (a first read needs none)
		fi, err := os.Lstat(st.path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, false, errVanished
			}
			return nil, false, err
		}
		if os.SameFile(st.fi, fi) && (st.stopped || fi.Size() == st.size) {
			return nil, false, nil // unchanged
		}
	}
	f, fi, err := fsutil.OpenRegular(st.path, os.O_RDONLY, 0)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, false, errVanished
		case errors.Is(err, fsutil.ErrNotRegular):
			// Swapped for a link, a FIFO or a directory since the listing:
			// that file is lost (the records read from it before stay).
			if lfi, lerr := os.Lstat(st.path); lerr == nil {
				st.fi, st.size, st.stopped = lfi, lfi.Size(), true
			}
			report(Problem{Path: st.path, Kind: KindBadHeader, Detail: err.Error()})
			return nil, false, nil
		}
		return nil, false, err
	}
	defer f.Close()
	if st.fi != nil && !os.SameFile(st.fi, fi) {
		replaced = true
		st.off, st.stopped, st.recs, st.shared = 0, false, make(map[[32]byte]*rec), false
	}
	st.fi, st.size = fi, fi.Size()
	if st.stopped || fi.Size() <= st.off {
		return nil, replaced, nil
	}
	if err := fsutil.CheckSize(st.path, fi, maxJournal); err != nil {
		// Refused before its size is allocated: a sparse 1 TiB journal
		// costs its records, not the process.
		st.stopped = true
		report(Problem{Path: st.path, Kind: KindBadHeader, Detail: err.Error() + "; the journal is ignored"})
		return nil, replaced, nil
	}
	buf := make([]byte, fi.Size()-st.off)
	n, err := f.ReadAt(buf, st.off)
	if err != nil && err != io.EOF {
		return nil, replaced, fmt.Errorf("manifest: read %s: %w", st.path, err)
	}
	buf = buf[:n]
	if st.off == 0 {
		_, hn, err := record.ParseHeader(buf, record.JournalFormat)
		if err != nil {
			st.stopped = true
			kind := KindBadHeader
			if errors.Is(err, record.ErrUnknownVersion) {
				kind = KindUnknownVersion
			}
			report(Problem{Path: st.path, Kind: kind, Detail: err.Error()})
			if kind == KindUnknownVersion {
				return nil, replaced, fmt.Errorf("manifest: journal %s: %w", st.path, err)
			}
			return nil, replaced, nil
		}
		st.off = int64(hn)
		buf = buf[hn:]
	}
	recs, st.off, st.stopped = scanRecords(st.path, buf, st.off, false, false, report)
	st.ownRecs()
	mergeInto(st.recs, recs...)
	return recs, replaced, nil
}
