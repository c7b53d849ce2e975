package outfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/fsutil"
)

// MaxTree bounds the records one directory out argument becomes (its
// files and directories): an entry's records must fit one manifest record.
const MaxTree = 1000

// ErrTooLarge is wrapped by CaptureTree's error for a directory of more
// than MaxTree files and directories: the call's result is returned, not
// cached.
var ErrTooLarge = errors.New("outfile: directory holds too many files to cache")

// A directory out argument is recorded as one record per file of its
// tree, whose Arg is "<arg>/<rel>" (rel the file's slash-separated path
// inside the directory), and one record per directory, whose Arg is
// "<arg>/" for the directory itself and "<arg>/<rel>/" for each one inside
// it, naming the empty object and holding the directory's permission bits.
// Each file is an object of its own (stored once however many trees hold
// it), named by the entry like any out file, so check, gc, export, import,
// rsync and the remote carry trees as they carry files. A release that
// predates trees finds no record named "<arg>" and computes the call.

// TreeRoot returns the Arg of the record that marks arg as a directory.
func TreeRoot(arg string) string { return arg + "/" }

// IsTree reports whether recs record argument arg as a directory.
func IsTree(recs []File, arg string) bool {
	return slices.ContainsFunc(recs, func(r File) bool { return r.Arg == TreeRoot(arg) })
}

// Tree returns the records of directory argument arg among recs.
func Tree(recs []File, arg string) []File {
	var out []File
	for _, r := range recs {
		if strings.HasPrefix(r.Arg, TreeRoot(arg)) {
			out = append(out, r)
		}
	}
	return out
}

// treeRel returns the path inside the tree of arg that record r names
// ("" for the root), and whether r is a directory's record.
func treeRel(arg string, r File) (rel string, dir bool) {
	rel = strings.TrimPrefix(r.Arg, TreeRoot(arg))
	if strings.HasSuffix(rel, "/") || rel == "" {
		return strings.TrimSuffix(rel, "/"), true
	}
	return rel, false
}

// validRel reports whether rel is a clean relative slash path inside the
// tree: a record (which any writer of the cache can forge) never makes a
// restore write outside the requested directory.
func validRel(rel string) bool {
	if rel == "" {
		return true
	}
	return !strings.HasPrefix(rel, "/") && path.Clean(rel) == rel && rel != ".." && !strings.HasPrefix(rel, "../") &&
		!strings.ContainsAny(rel, "\\\x00")
}

// CaptureTree stores the directory the function wrote at the absolute
// path dir as the records of argument arg: every regular file an object,
// every directory a record with its permission bits. A link, device or
// fifo inside it is an error (its meaning would not survive a copy), and
// so is a tree of more than MaxTree files and directories; neither wraps
// ErrMissing, so the call's result is returned and not cached.
func CaptureTree(st *cas.Store, arg, dir string) ([]File, error) {
	return captureTree(st, arg, dir)
}

func captureTree(st store, arg, dir string) ([]File, error) {
	dir, err := absPath("capture "+arg, dir)
	if err != nil {
		return nil, err
	}
	empty, _, err := st.PutReader(bytes.NewReader(nil))
	if err != nil {
		return nil, fmt.Errorf("outfile: capture out directory %s (%s): %w", arg, dir, err)
	}
	var recs []File
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if len(recs) >= MaxTree {
			return fmt.Errorf("more than %d files and directories: %w", MaxTree, ErrTooLarge)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			rel = ""
		}
		switch {
		case d.IsDir():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			name := TreeRoot(arg)
			if rel != "" {
				name += rel + "/"
			}
			recs = append(recs, File{Arg: name, Object: empty, Mode: uint32(fi.Mode().Perm())})
		case d.Type().IsRegular():
			rec, err := capture(st, TreeRoot(arg)+rel, p)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
		default:
			return fmt.Errorf("%s is a %s, which a cached directory cannot hold", rel, fsutil.Kind(d.Type()))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outfile: capture out directory %s (%s): %w", arg, dir, err)
	}
	return recs, nil
}

// RestoreTree makes the absolute path dir hold exactly the tree that the
// records of directory argument arg describe, and returns the records with
// the paths they were restored to (and whether that changed them). A
// directory that holds the tree already is left untouched. Otherwise the
// tree is built in a temp directory beside dir, every file copied from the
// store (verified; a missing object is recovered from a recorded path that
// trusted accepts, as Restore does), and then renamed over dir, so dir is
// the old tree or the new one, never a mixture. A dir that exists and is
// not a directory is never replaced (ErrNotRegular). Recorded contents
// that are gone are an error wrapping ErrUnavailable.
func RestoreTree(st *cas.Store, recs []File, arg, dir string, trusted func(string) bool) ([]File, bool, error) {
	return restoreTree(st, recs, arg, dir, trusted)
}

func restoreTree(st store, recs []File, arg, dir string, trusted func(string) bool) ([]File, bool, error) {
	dir, err := absPath("restore "+arg, dir)
	if err != nil {
		return recs, false, err
	}
	for _, r := range recs {
		if rel, isDir := treeRel(arg, r); !validRel(rel) || (!isDir && checkRecord(r) != nil) {
			return recs, false, fmt.Errorf("outfile: restore out directory %s: bad record %q: %w", arg, r.Arg, ErrUnavailable)
		}
	}
	fi, err := os.Lstat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return recs, false, fmt.Errorf("outfile: restore out directory %s: %s is a %s, not replacing it: %w", arg, dir, fsutil.Kind(fi.Mode()), ErrNotRegular)
	case err == nil:
		if out, changed, ok := treeHolds(recs, arg, dir); ok {
			return out, changed, nil
		}
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return recs, false, fmt.Errorf("outfile: restore out directory %s: %w", arg, err)
	}
	tmp, err := os.MkdirTemp(parent, tempPrefix(dir))
	if err != nil {
		return recs, false, fmt.Errorf("outfile: restore out directory %s: %w", arg, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	out, err := buildTree(st, recs, arg, dir, tmp, trusted)
	if err != nil {
		return recs, false, fmt.Errorf("outfile: restore out directory %s (%s): %w", arg, dir, err)
	}
	if err := swapDir(tmp, dir); err != nil {
		return recs, false, fmt.Errorf("outfile: restore out directory %s: %w", arg, err)
	}
	done = true
	return out, true, nil
}

// buildTree writes the tree into the empty directory tmp (to become dir)
// and returns the records with dir's paths.
func buildTree(st store, recs []File, arg, dir, tmp string, trusted func(string) bool) ([]File, error) {
	out := slices.Clone(recs)
	// Parents before children; directories' own bits are set last, so a
	// read-only directory still receives its files.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Arg < out[j].Arg })
	var dirs []File
	for i, r := range out {
		rel, isDir := treeRel(arg, r)
		p := filepath.Join(tmp, filepath.FromSlash(rel))
		if isDir {
			if rel != "" {
				if err := os.MkdirAll(p, 0o700); err != nil {
					return nil, err
				}
			}
			dirs = append(dirs, r)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		// A file of the tree restores like an out file of its own, to its
		// place in the temp tree; recovery may read where it was written
		// inside a directory the caller passed.
		rec := r
		rec.Paths = nil
		got, _, err := restore(st, rec, p, nil)
		if errors.Is(err, ErrUnavailable) {
			got, err = recoverTreeFile(st, r, p, trusted)
		}
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		target := filepath.Join(dir, filepath.FromSlash(rel))
		out[i], _ = withPath(r, pathRecord{Path: target, MtimeNs: trustedMtime(fi), Size: got.Size})
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		rel, _ := treeRel(arg, dirs[i])
		if err := os.Chmod(filepath.Join(tmp, filepath.FromSlash(rel)), dirPerm(dirs[i].Mode)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// recoverTreeFile writes r's bytes to p from a path the record names that
// lies inside a directory trusted accepts and still holds them.
func recoverTreeFile(st store, r File, p string, trusted func(string) bool) (File, error) {
	inTrusted := func(q string) bool {
		for d := filepath.Dir(q); trusted != nil; d = filepath.Dir(d) {
			if trusted(d) {
				return true
			}
			if d == filepath.Dir(d) {
				return false
			}
		}
		return false
	}
	rec := r
	rec.Paths = slices.DeleteFunc(slices.Clone(r.Paths), func(pr pathRecord) bool { return !inTrusted(pr.Path) })
	got, _, err := restore(st, rec, p, func(string) bool { return true })
	return got, err
}

// treeKey names a file ("a/b") or directory ("a/", the root "/") of a
// tree.
func treeKey(rel string, dir bool) string {
	if dir {
		return rel + "/"
	}
	return rel
}

// treeHolds reports whether dir holds exactly the tree (the same files
// with the same bytes, the same directories, nothing else), and returns
// the records with dir's paths.
func treeHolds(recs []File, arg, dir string) ([]File, bool, bool) {
	want := map[string]bool{}
	for _, r := range recs {
		want[treeKey(treeRel(arg, r))] = true
	}
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); rel == "." {
			rel = ""
		}
		if !want[treeKey(rel, d.IsDir())] {
			return fs.ErrExist // something the tree does not hold
		}
		n++
		return nil
	})
	if err != nil || n != len(want) {
		return recs, false, false
	}
	out := slices.Clone(recs)
	changed := false
	for i, r := range out {
		rel, isDir := treeRel(arg, r)
		if isDir {
			continue
		}
		s, pr, _ := current(filepath.Join(dir, filepath.FromSlash(rel)), r)
		switch s {
		case cheapMatch:
		case hashMatch:
			var ch bool
			out[i], ch = withPath(r, pr)
			changed = changed || ch
		default:
			return recs, false, false
		}
	}
	return out, changed, true
}

// dirPerm returns the permission bits to give a restored directory: the
// record's rwx bits without group or other write (a record, which any
// writer of the cache can forge, never makes a directory others may write
// into), or 0755 when it has none; the owner keeps rwx.
func dirPerm(mode uint32) os.FileMode {
	p := os.FileMode(mode) & os.ModePerm &^ 0o022
	if p == 0 {
		return 0o755
	}
	return p | 0o700
}

// hashOnly is a store that hashes what it is given and keeps nothing.
type hashOnly struct{}

func (hashOnly) PutReader(r io.Reader) (cas.ID, int64, error) { return hashCopy(r, io.Discard) }
func (hashOnly) CopyTo(cas.ID, *os.File) (int64, error) {
	return 0, errors.New("outfile: nothing is stored")
}
func (hashOnly) Has(cas.ID) (bool, error)          { return false, nil }
func (hashOnly) Quarantine(cas.ID) (string, error) { return "", nil }

// TreeDiffers names the first file or directory in which the tree at the
// absolute path dir differs from the records of directory argument arg,
// or returns "": how verify mode compares a recomputed directory.
func TreeDiffers(recs []File, arg, dir string) string {
	got, err := captureTree(hashOnly{}, arg, dir)
	if err != nil {
		return fmt.Sprintf("out directory %q (%v)", arg, err)
	}
	key := func(r File) string { return fmt.Sprintf("%s %x %d", r.Arg, r.Object, r.Size) }
	a, b := make([]string, 0, len(recs)), make([]string, 0, len(got))
	for _, r := range recs {
		a = append(a, key(r))
	}
	for _, r := range got {
		b = append(b, key(r))
	}
	slices.Sort(a)
	slices.Sort(b)
	if slices.Equal(a, b) {
		return ""
	}
	return fmt.Sprintf("out directory %q (stored: %d files and directories, recomputed: %d)", arg, len(recs), len(got))
}

// swapByRenames puts the directory tmp in dir's place with two renames:
// dir (if there) aside under a temp name, then tmp in; the old tree is
// then removed. Between the renames dir is briefly missing.
func swapByRenames(tmp, dir string) error {
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Rename(old, dir)
		return err
	}
	return os.RemoveAll(old)
}
