package retire

import (
	"encoding/hex"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
)

// A summary (layout.Dir.RetiredSummary) repeats, in one file, what the
// retirement records of one manifest directory said when the compaction
// that last ran there (holding the directory's lock) finished: so a reader
// that opens the directory learns which of its files are retired, and at
// what size and time, with one read instead of one per record.
//
// It is only ever a shortcut to the records, never a substitute: a reader
// believes a file of it retired only while the file's record is still
// there (Names, listed before the directory) and, for a journal, while the
// file is still of the size and time the summary says (one lstat). A stale
// summary (a compaction that died before writing it, a compaction by a
// release before summaries) therefore only makes the reader read a retired
// file again; the one thing it can do that reading the record would not is
// leave out a journal that is back at the size and time it was first
// retired at (replaced by that older copy of itself), whose records are
// all in a compaction's output. Retire, Reap and List never read
// summaries, and the extension is not a record's, so releases before them
// ignore them. Each line also keeps when the file was retired, for people
// reading it.

// summaryHeader is the first line of every summary.
const summaryHeader = "pcache-retired-summary 1"

// maxSummary bounds what ReadSummary reads (about 40,000 records).
const maxSummary = 4 << 20

// Summary is what a directory's summary says: the size and modification
// time each retired file of the directory had when it was retired, by the
// file's base name. A nil *Summary lists nothing.
type Summary struct {
	dir   string // the directory, slash form relative to the cache root
	files map[string]summarised
}

type summarised struct{ size, mtime int64 }

// Has reports whether the summary lists file base of its directory.
func (s *Summary) Has(base string) bool {
	if s == nil {
		return false
	}
	_, ok := s.files[base]
	return ok
}

// Unchanged reports whether the summary lists file base and the file is
// still the regular file of the size and modification time it lists (one
// lstat): what Lookup would say of the file's record, had it been read
// when the summary was written.
func (s *Summary) Unchanged(d layout.Dir, base string) bool {
	if s == nil {
		return false
	}
	e, ok := s.files[base]
	if !ok {
		return false
	}
	return isFileAt(filepath.Join(d.Root(), filepath.FromSlash(s.dir), base), e.size, e.mtime)
}

// Records is the set of retirement records under locks/retired/ when
// Names listed them, by the hash their names spell
// (layout.RetiredRecordHash).
type Records map[[16]byte]bool

// Names lists the records under locks/retired/ (one listing): rel is
// retired only if Records holds layout.RetiredRecordHash(rel). A directory
// that cannot be listed holds none.
func Names(d layout.Dir) Records {
	ents, err := os.ReadDir(d.Retired()) // (os.Open of a directory would try the poller on it: 5 system calls more)
	if err != nil {
		return nil
	}
	out := make(Records, len(ents))
	for _, e := range ents {
		h, ok := strings.CutSuffix(e.Name(), layout.RetiredExt)
		var k [16]byte
		if ok && len(h) == 2*len(k) {
			if _, err := hex.Decode(k[:], []byte(h)); err == nil {
				out[k] = true
			}
		}
	}
	return out
}

// ReadSummary returns the summary of directory relDir (slash form,
// relative to the cache root), or nil when there is none or it is
// malformed. It allocates little: a fresh process reads it before its
// first lookup.
func ReadSummary(d layout.Dir, relDir string) *Summary {
	b, err := fsutil.ReadRegular(d.RetiredSummary(relDir), maxSummary)
	if err != nil {
		return nil
	}
	rest, ok := strings.CutPrefix(string(b), summaryHeader+"\n"+relDir+"\n")
	if !ok || !strings.HasSuffix(rest, "\n") { // (one cut short does not end with a newline)
		return nil
	}
	s := &Summary{dir: relDir, files: make(map[string]summarised, strings.Count(rest, "\n"))}
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		var n [3]int64
		for i := range n {
			var f string
			if f, line, ok = strings.Cut(line, " "); !ok {
				return nil
			}
			if n[i], err = strconv.ParseInt(f, 10, 64); err != nil {
				return nil
			}
		}
		if strings.ContainsAny(line, "/\\") || !(layout.IsJournalName(line) || layout.IsSegmentName(line)) {
			return nil // only a file retire keeps, in this directory
		}
		s.files[line] = summarised{size: n[1], mtime: n[2]}
	}
	return s
}

// WriteSummary writes the summary of directory relDir: recs, the records
// of its retired files (others are left out). With none it removes the
// summary. The caller holds the directory's lock, as compactions do.
func WriteSummary(d layout.Dir, relDir string, recs []Record) error {
	var b []byte
	b = append(b, summaryHeader+"\n"+relDir+"\n"...)
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b Record) int { return strings.Compare(a.Rel, b.Rel) })
	n := 0
	for _, r := range recs {
		if path.Dir(r.Rel) != relDir || !Syncable(r.Rel) {
			continue
		}
		b = strconv.AppendInt(b, r.At.UnixNano(), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, r.Size, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, r.ModTime.UnixNano(), 10)
		b = append(b, ' ')
		b = append(b, path.Base(r.Rel)+"\n"...)
		n++
	}
	p := d.RetiredSummary(relDir)
	if n == 0 {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(d.Retired(), 0o777); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(d.Tmp(), p, b, 0o644, false)
}
