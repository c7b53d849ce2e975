package testutil

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// CopyTree copies the directory tree src into dst (created as needed):
// directories (mode 0755), regular files with their permission bits, and
// symbolic links as links. Directories of src named in skip (paths
// relative to src, such as "locks" or "tmp") are left out.
func CopyTree(src, dst string, skip ...string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if slices.Contains(skip, filepath.ToSlash(rel)) {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, b, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode().Perm()) // whatever the umask
		default:
			return fmt.Errorf("copy %s: not a directory, regular file or symbolic link (%v)", p, d.Type())
		}
	})
}

// Snapshot describes every file under dir (dir included), one line each
// sorted by path: the path relative to dir, the mode, size, modification
// time, owner (where the system has one) and, for regular files, a hash of
// the content. Two snapshots are equal only if nothing under dir was
// created, deleted, moved, written, chmodded, chowned or touched between
// them. It never follows a link nor opens anything but regular files (a
// FIFO there never blocks it).
func Snapshot(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			lines = append(lines, fmt.Sprintf("%s: %v", p, err))
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			lines = append(lines, fmt.Sprintf("%s: %v", p, err))
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %v %d %d%s", filepath.ToSlash(rel), fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), owner(fi))
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			line += fmt.Sprintf(" %x %v", sha256.Sum256(b), err)
		case fi.Mode()&fs.ModeSymlink != 0:
			link, _ := os.Readlink(p)
			line += " -> " + link
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Allocated returns the bytes the whole process allocated on the heap while
// fn ran (runtime.MemStats.TotalAlloc): a bound on fn's heap growth from
// above, when no other goroutine allocates meanwhile (the caller is not a
// parallel test, or runs Alone).
func Allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// Bytes returns n deterministic bytes that differ with seed: a 64 KiB
// pseudo-random block (xorshift), repeated with each repetition's offset
// stamped into its first 8 bytes, so no two 64 KiB stretches are alike and
// large contents stay cheap to make even under the race detector.
func Bytes(seed uint64, n int) []byte {
	const block = 64 << 10
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	var w [8]byte
	for i := 0; i < min(n, block); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(w[:], x)
		copy(b[i:], w[:])
	}
	for off := block; off < n; off += block {
		copy(b[off:], b[:block])
		binary.LittleEndian.PutUint64(w[:], uint64(off))
		copy(b[off:], w[:])
	}
	return b
}

// OutsideDir makes a directory outside any cache holding a few private,
// precious files older than any grace period (the files maintenance must
// never touch through a link planted in a cache), and returns it with its
// Snapshot.
func OutsideDir(t testing.TB) (dir, snapshot string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "victim")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	for _, f := range []string{"thesis.tex", "id_ed25519", "passwd"} {
		p := filepath.Join(dir, f)
		if err := os.WriteFile(p, []byte("precious "+f), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
	return dir, Snapshot(t, dir)
}

// TreeSize returns the bytes of the files under dir (their sizes, not the
// blocks they take); a directory that does not exist holds none.
func TreeSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
