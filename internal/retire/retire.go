// Package retire keeps the files a live cache gives up on its own (merged
// packs, compacted journals and segments) for a grace period before deleting
// them, so a copy in progress (rsync) never sees one of its files vanish.
//
// A retired file stays where it is, under its name: its content is also
// held elsewhere (the merge's or compaction's output), so readers that still
// read it see the same entries twice, which resolve alike. The record of its
// retirement lives under locks/retired/, which is machine-local and never
// copied: another cache that receives the file treats it as its own. A
// retired file is deleted by Reap once the grace period has passed, and only
// if it has not changed since (a sync that appended to it un-retires it, so
// the appended records are merged again, not lost).
package retire

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
)

// Grace is how long a retired file stays when nobody says otherwise: as long
// as gc's default grace, and longer than a sync of a large cache takes.
const Grace = time.Hour

// header is the first line of every retirement record.
const header = "pcache-retired 1"

// Record is one retired file.
type Record struct {
	Rel     string    // the file, slash form, relative to the cache root
	At      time.Time // when it was retired
	Size    int64     // its size then
	ModTime time.Time // its modification time then
}

// Syncable reports whether rel names a file retire keeps: a pack or pack
// index under objects/pack/, or a journal or segment under manifests/.
// Nothing else is ever retired, so a record planted by someone else can make
// Reap delete nothing but such a file, inside the cache.
func Syncable(rel string) bool {
	if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || strings.HasPrefix(rel, "../") || strings.Contains(rel, "\\") {
		return false
	}
	dir, base := path.Split(rel)
	switch {
	case dir == layout.ObjectsDir+"/"+layout.PackDir+"/":
		return layout.IsPackName(base) || layout.IsPackIndexName(base)
	case strings.HasPrefix(dir, layout.ManifestsDir+"/") && dir != layout.ManifestsDir+"/":
		return layout.IsJournalName(base) || layout.IsSegmentName(base)
	}
	return false
}

// Retire records that the file at p (inside the cache d) is superseded as of
// now. It returns false, recording nothing, when the file is not one retire
// keeps (Syncable), is not a regular file, or the record cannot be written:
// the caller then deletes the file itself.
func Retire(d layout.Dir, p string, now time.Time) bool {
	_, ok := RetireRecord(d, p, now)
	return ok
}

// RetireRecord is Retire, returning the record it wrote.
func RetireRecord(d layout.Dir, p string, now time.Time) (Record, bool) {
	rel := d.Rel(p)
	if !Syncable(rel) {
		return Record{}, false
	}
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return Record{}, false
	}
	if err := os.MkdirAll(d.Retired(), 0o777); err != nil {
		return Record{}, false
	}
	r := Record{Rel: rel, At: now, Size: fi.Size(), ModTime: fi.ModTime()}
	if fsutil.WriteFileAtomic(d.Tmp(), d.RetiredRecord(rel), r.encode(), 0o644, false) != nil {
		return Record{}, false
	}
	return r, true
}

func (r Record) encode() []byte {
	return fmt.Appendf(nil, "%s\n%s\n%d %d %d\n", header, r.Rel, r.At.UnixNano(), r.Size, r.ModTime.UnixNano())
}

func decode(b []byte) (Record, bool) {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 3 || lines[0] != header || !Syncable(lines[1]) {
		return Record{}, false
	}
	f := strings.Fields(lines[2])
	if len(f) != 3 {
		return Record{}, false
	}
	var n [3]int64
	for i, s := range f {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Record{}, false
		}
		n[i] = v
	}
	return Record{Rel: lines[1], At: time.Unix(0, n[0]), Size: n[1], ModTime: time.Unix(0, n[2])}, true
}

// maxRecord bounds what List reads of one record file.
const maxRecord = 4096

// List returns the retired files whose rel satisfies only (all when nil),
// keyed by rel: those still as they were when retired. A file that changed
// since (a sync appended to it) is not retired any more: it is left out,
// and Reap removes its record. So are unreadable or malformed records.
func List(d layout.Dir, only func(rel string) bool) (map[string]Record, error) {
	out := map[string]Record{}
	err := each(d, func(name string, r Record, ok bool) {
		if ok && (only == nil || only(r.Rel)) && r.unchanged(d) {
			out[r.Rel] = r
		}
	})
	return out, err
}

// Lookup returns the record of the file rel (slash form, relative to the
// cache root) if it is retired and still as it was then: its content is
// all in the output that superseded it, so a reader may leave it out. One
// read of its record and one lstat of the file; a missing, malformed or
// foreign record is not found.
func Lookup(d layout.Dir, rel string) (Record, bool) {
	b, err := fsutil.ReadRegular(d.RetiredRecord(rel), maxRecord)
	if err != nil {
		return Record{}, false
	}
	r, ok := decode(b)
	if !ok || r.Rel != rel || !r.unchanged(d) {
		return Record{}, false
	}
	return r, true
}

// path returns the retired file's path in the cache d.
func (r Record) path(d layout.Dir) string { return filepath.Join(d.Root(), filepath.FromSlash(r.Rel)) }

// unchanged reports whether the retired file is still the regular file of
// the size and modification time it had when retired (one lstat).
func (r Record) unchanged(d layout.Dir) bool {
	return isFileAt(r.path(d), r.Size, r.ModTime.UnixNano())
}

// isFileAt reports whether p is a regular file of size bytes last modified
// at mtime (unix nanoseconds).
func isFileAt(p string, size, mtime int64) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size && fi.ModTime().UnixNano() == mtime
}

// each calls fn for every record file under locks/retired/.
func each(d layout.Dir, fn func(name string, r Record, ok bool)) error {
	ents, err := os.ReadDir(d.Retired())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("retire: %w", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), layout.RetiredExt) {
			continue
		}
		name := d.Retired() + string(os.PathSeparator) + e.Name()
		b, err := fsutil.ReadRegular(name, maxRecord)
		if err != nil {
			continue // vanished (reaped by another process) or unreadable
		}
		r, ok := decode(b)
		if ok && d.RetiredRecord(r.Rel) != name {
			ok = false // a record under another file's name: not ours
		}
		fn(name, r, ok)
	}
	return nil
}

// Reaped is one file Reap deleted.
type Reaped struct {
	Rel  string
	Size int64
}

// Reap deletes the retired files (whose rel satisfies only, all when nil)
// retired at least grace before now, then their records; the caller holds
// whatever lock keeps new inputs of its kind from being chosen meanwhile. A
// file that changed since it was retired (a sync appended to it) is not
// deleted: its record goes, so it is merged again like any other file. A
// record whose file is gone, or that is malformed, is removed. Pack indexes
// go before their packs. It returns what it deleted.
func Reap(d layout.Dir, grace time.Duration, now time.Time, only func(rel string) bool) ([]Reaped, error) {
	type due struct {
		name string
		r    Record
	}
	var todo []due
	err := each(d, func(name string, r Record, ok bool) {
		switch {
		case !ok:
			if fi, err := os.Lstat(name); err == nil && now.Sub(fi.ModTime()) >= grace {
				os.Remove(name)
			}
		case (only == nil || only(r.Rel)) && now.Sub(r.At) >= grace:
			todo = append(todo, due{name, r})
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(todo, func(a, b due) int { return strings.Compare(a.r.Rel, b.r.Rel) }) // x.pci before x.pcp
	var out []Reaped
	for _, t := range todo {
		p := t.r.path(d)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			continue // try again next time
		case !fi.Mode().IsRegular() || fi.Size() != t.r.Size || !fi.ModTime().Equal(t.r.ModTime):
			// Changed since: no longer what was merged. Un-retire it.
		default:
			if err := d.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) { // rooted
				continue
			}
			out = append(out, Reaped{Rel: t.r.Rel, Size: fi.Size()})
		}
		os.Remove(t.name)
	}
	return out, nil
}

// Forget removes the retirement record of the file at p, if any: the file
// is an input again (or was deleted by other means).
func Forget(d layout.Dir, p string) {
	os.Remove(d.RetiredRecord(d.Rel(p)))
}
