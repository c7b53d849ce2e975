package retire

import (
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

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
// summary (a compaction that died before writing it, or a release before
// summaries) therefore lists too little or too much: the reader reads a
// retired file again, or leaves out one whose record is gone and whose
// content is in a compaction's output all the same. Retire, Reap and List
// never read summaries, so releases before them ignore them.

// summaryHeader is the first line of every summary.
const summaryHeader = "pcache-retired-summary 1"

// maxSummary bounds what ReadSummary reads (about 40,000 records).
const maxSummary = 4 << 20

// Summary is what a directory's summary says: the records of its retired
// files, keyed by the file's base name.
type Summary map[string]Record

// Names returns the base names of the records under locks/retired/ (one
// listing): rel is retired only if layout.RetiredRecordName(rel) is among
// them. A directory that cannot be listed holds none.
func Names(d layout.Dir) map[string]bool {
	ents, err := os.ReadDir(d.Retired()) // (os.Open of a directory would try the poller on it: 5 system calls more)
	if err != nil {
		return nil
	}
	out := make(map[string]bool, len(ents))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), layout.RetiredExt) {
			out[e.Name()] = true
		}
	}
	return out
}

// ReadSummary returns the summary of directory relDir (slash form,
// relative to the cache root), or nil when there is none or it is
// malformed.
func ReadSummary(d layout.Dir, relDir string) Summary {
	b, err := fsutil.ReadRegular(d.RetiredSummary(relDir), maxSummary)
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 3 || lines[0] != summaryHeader || lines[1] != relDir || lines[len(lines)-1] != "" {
		return nil // (a summary ends with a newline: one cut short does not)
	}
	out := make(Summary, len(lines)-3)
	for _, l := range lines[2 : len(lines)-1] {
		f := strings.SplitN(l, " ", 4)
		if len(f) != 4 {
			return nil
		}
		var n [3]int64
		for i := range n {
			if n[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
				return nil
			}
		}
		rel := relDir + "/" + f[3]
		if path.Base(rel) != f[3] || !Syncable(rel) {
			return nil
		}
		out[f[3]] = Record{Rel: rel, At: time.Unix(0, n[0]), Size: n[1], ModTime: time.Unix(0, n[2])}
	}
	return out
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
