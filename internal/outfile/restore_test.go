package outfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/testutil"
)

func TestRestoreNewPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		size     int
		mode     os.FileMode
		wantMode os.FileMode
		dest     string // relative to a fresh directory
	}{
		{"empty", 0, 0o644, 0o644, "out"},
		{"one byte", 1, 0o600, 0o600, "out"},
		{"several MiB", 3<<20 + 17, 0o755, 0o755, "out.bin"},
		{"read-only", 100, 0o444, 0o444, "ro"},
		{"missing parents", 10, 0o640, 0o640, "a/b/c/out"},
		{"long name", 10, 0o644, 0o644, longName()},
		{"world-writable record", 10, 0o777, 0o777 &^ umask(), "open"},
		{"group-writable record", 10, 0o666, 0o666 &^ umask(), "shared"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			src := filepath.Join(t.TempDir(), "src")
			data := testutil.Bytes(uint64(i), tt.size)
			writeOld(t, src, data, tt.mode)
			rec := mustCapture(t, st, "Out", src)

			dst := filepath.Join(t.TempDir(), tt.dest)
			out, changed := mustRestore(t, st, rec, dst)
			wantContent(t, dst, data)
			if got := mustStat(t, dst).Mode(); got != tt.wantMode {
				t.Errorf("mode %v, want %v", got, tt.wantMode)
			}
			if !changed || len(out.Paths) != 2 || out.Paths[0] != rec.Paths[0] || out.Paths[1].Path != dst || out.Paths[1].Size != int64(tt.size) {
				t.Errorf("Restore = %+v, %v; want the new path appended", out.Paths, changed)
			}
			if len(rec.Paths) != 1 {
				t.Errorf("Restore modified its argument: %+v", rec.Paths)
			}
			entries, _ := os.ReadDir(filepath.Dir(dst))
			if len(entries) != 1 {
				t.Errorf("temp files left beside %s: %v", dst, entries)
			}
		})
	}
}

func longName() string {
	b := make([]byte, 240)
	for i := range b {
		b[i] = 'n'
	}
	return string(b)
}

// identity is what must not change when Restore leaves a file alone.
type identity struct {
	fi    os.FileInfo
	mtime time.Time
}

func identify(t *testing.T, p string) identity {
	fi := mustStat(t, p)
	return identity{fi, fi.ModTime()}
}

func (id identity) same(t *testing.T, p string) {
	t.Helper()
	fi := mustStat(t, p)
	if !os.SameFile(id.fi, fi) || !fi.ModTime().Equal(id.mtime) {
		t.Fatalf("%s was rewritten (inode or mtime changed)", p)
	}
}

func TestRestoreAlreadyThere(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	p := filepath.Join(t.TempDir(), "out")
	data := testutil.Bytes(3, 1<<20)
	writeOld(t, p, data, 0o644)
	rec := mustCapture(t, st, "Out", p)
	before := identify(t, p)

	// Same size and recorded time: untouched, record unchanged.
	out, changed := mustRestore(t, st, rec, p)
	before.same(t, p)
	if changed || len(out.Paths) != 1 {
		t.Fatalf("Restore at the captured path: changed=%v paths=%+v", changed, out.Paths)
	}

	// A racy record (MtimeNs 0) makes Restore hash the file: still untouched,
	// and the record gains the trustworthy time.
	racy := rec
	racy.Paths = []pathRecord{{Path: p, MtimeNs: 0, Size: rec.Size}}
	out, changed = mustRestore(t, st, racy, p)
	before.same(t, p)
	if !changed || out.Paths[0] != rec.Paths[0] {
		t.Fatalf("hash-verified restore: changed=%v paths=%+v, want %+v", changed, out.Paths, rec.Paths)
	}

	// No record of the path at all (a copy made by someone else): hashed,
	// untouched, path added.
	other := filepath.Join(t.TempDir(), "copy")
	writeOld(t, other, data, 0o644)
	otherID := identify(t, other)
	out, changed = mustRestore(t, st, rec, other)
	otherID.same(t, other)
	if !changed || len(out.Paths) != 2 || out.Paths[1].Path != other || out.Paths[1].MtimeNs != otherID.mtime.UnixNano() {
		t.Fatalf("restore onto an identical copy: changed=%v paths=%+v", changed, out.Paths)
	}
}

// The cheap check trusts size and time without reading: that is its point,
// and why racy times are recorded as 0.
func TestRestoreCheapCheckDoesNotRead(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	p := filepath.Join(t.TempDir(), "out")
	writeOld(t, p, []byte("AAAA"), 0o644)
	rec := mustCapture(t, st, "Out", p)
	mtime := mustStat(t, p).ModTime()
	if err := os.WriteFile(p, []byte("BBBB"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if _, changed := mustRestore(t, st, rec, p); changed {
		t.Fatal("changed")
	}
	wantContent(t, p, []byte("BBBB"))
}

func TestRestoreFixesWrongContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		current []byte
		recPath bool // the record lists the path (with a time that no longer matches)
	}{
		{"same size, unrecorded", []byte("xxxxxxxx"), false},
		{"same size, recorded", []byte("yyyyyyyy"), true},
		{"other size", []byte("short"), true},
		{"empty", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			want := []byte("12345678")
			writeOld(t, src, want, 0o644)
			rec := mustCapture(t, st, "Out", src)
			p := filepath.Join(dir, "dst")
			if tt.recPath {
				rec.Paths = append(rec.Paths, pathRecord{Path: p, MtimeNs: 12345, Size: 8})
			}
			writeOld(t, p, tt.current, 0o600)
			out, changed := mustRestore(t, st, rec, p)
			wantContent(t, p, want)
			if !changed || out.Paths[len(out.Paths)-1].Path != p {
				t.Fatalf("changed=%v paths=%+v", changed, out.Paths)
			}
			if got := mustStat(t, p).Mode().Perm(); got != 0o644 {
				t.Errorf("mode %v, want the record's 0644", got)
			}
		})
	}
}

func TestRestoreThroughSymlink(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeOld(t, src, []byte("new"), 0o644)
	rec := mustCapture(t, st, "Out", src)
	target := filepath.Join(dir, "target")
	writeOld(t, target, []byte("old!"), 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	out, _ := mustRestore(t, st, rec, link)
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link itself was replaced: %v %v", fi.Mode(), err)
	}
	wantContent(t, target, []byte("new"))
	if out.Paths[len(out.Paths)-1].Path != link {
		t.Fatalf("recorded %+v, want the link's path", out.Paths)
	}
}

func TestRestoreRefusesNonRegular(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeOld(t, src, []byte("data"), 0o644)
	rec := mustCapture(t, st, "Out", src)
	adir := filepath.Join(dir, "adir")
	if err := os.Mkdir(adir, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	mkfifo(t, fifo)
	for _, p := range []string{adir, fifo, devNull} {
		before, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := Restore(st, rec, p, trustAll); !errors.Is(err, ErrNotRegular) {
			t.Errorf("Restore onto %s = %v, want ErrNotRegular", p, err)
		}
		after, err := os.Lstat(p)
		if err != nil || !os.SameFile(before, after) || after.Mode() != before.Mode() {
			t.Errorf("%s was replaced", p)
		}
	}
	if _, _, err := Restore(st, rec, "relative/out", trustAll); err == nil {
		t.Error("Restore to a relative path succeeded")
	}
}

func TestRestoreObjectMissing(t *testing.T) {
	t.Parallel()
	data := testutil.Bytes(9, 64<<10)
	setup := func(t *testing.T) (st *cas.Store, rec record, dir string) {
		st = newStore(t)
		dir = t.TempDir()
		src := filepath.Join(dir, "src")
		writeOld(t, src, data, 0o644)
		rec = mustCapture(t, st, "Out", src)
		rec, _ = mustRestore(t, st, rec, filepath.Join(dir, "copy"))
		return st, rec, dir
	}
	deleteObject := func(t *testing.T, st *cas.Store, id cas.ID) {
		if err := st.Delete(id); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("recovered from a recorded path", func(t *testing.T) {
		t.Parallel()
		st, rec, dir := setup(t)
		deleteObject(t, st, rec.Object)
		// The newest path was overwritten; the older one survives.
		writeOld(t, filepath.Join(dir, "copy"), testutil.Bytes(10, len(data)), 0o644)
		dst := filepath.Join(dir, "new")
		out, changed := mustRestore(t, st, rec, dst)
		wantContent(t, dst, data)
		if has, err := st.Has(rec.Object); !has || err != nil {
			t.Fatalf("object not stored again: %v %v", has, err)
		}
		if !changed || out.Paths[len(out.Paths)-1].Path != dst {
			t.Fatalf("changed=%v paths=%+v", changed, out.Paths)
		}
	})
	t.Run("a recorded path the caller did not pass is never read", func(t *testing.T) {
		t.Parallel()
		st, rec, dir := setup(t)
		deleteObject(t, st, rec.Object)
		writeOld(t, filepath.Join(dir, "copy"), testutil.Bytes(10, len(data)), 0o644)
		dst := filepath.Join(dir, "new")
		onlyDst := func(p string) bool { return p == dst }
		if _, _, err := Restore(st, rec, dst, onlyDst); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Restore from untrusted recorded paths: %v, want ErrUnavailable", err)
		}
		if has, _ := st.Has(rec.Object); has {
			t.Fatal("a file at a path the caller never passed was read into the cache")
		}
	})
	t.Run("requested path still right", func(t *testing.T) {
		t.Parallel()
		st, rec, dir := setup(t)
		deleteObject(t, st, rec.Object)
		p := filepath.Join(dir, "src")
		before := identify(t, p)
		mustRestore(t, st, rec, p)
		before.same(t, p)
		if has, _ := st.Has(rec.Object); !has {
			t.Fatal("object not stored again from the intact path")
		}
	})
	t.Run("all paths gone", func(t *testing.T) {
		t.Parallel()
		st, rec, dir := setup(t)
		deleteObject(t, st, rec.Object)
		os.Remove(filepath.Join(dir, "src"))
		writeOld(t, filepath.Join(dir, "copy"), testutil.Bytes(11, len(data)), 0o644)
		dst := filepath.Join(dir, "new")
		_, _, err := Restore(st, rec, dst, trustAll)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, cas.ErrNotFound) {
			t.Fatalf("Restore = %v, want ErrUnavailable and cas.ErrNotFound", err)
		}
		if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s exists after a failed restore", dst)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 { // copy
			t.Fatalf("temp files left behind: %v", entries)
		}
	})
}

func TestRestoreObjectCorrupt(t *testing.T) {
	t.Parallel()
	data := testutil.Bytes(12, 200<<10)
	for _, survivor := range []bool{true, false} {
		t.Run(fmt.Sprintf("survivor=%v", survivor), func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			writeOld(t, src, data, 0o644)
			rec := mustCapture(t, st, "Out", src)
			corruptObject(t, st, rec.Object)
			if !survivor {
				writeOld(t, src, testutil.Bytes(13, len(data)), 0o644)
			}
			dst := filepath.Join(dir, "dst")
			_, _, err := Restore(st, rec, dst, trustAll)
			lost, _ := os.ReadDir(lostFound(st))
			if len(lost) != 1 {
				t.Errorf("corrupt object not quarantined: lost+found holds %v", lost)
			}
			if survivor {
				if err != nil {
					t.Fatal(err)
				}
				wantContent(t, dst, data)
				if err := st.Verify(rec.Object); err != nil {
					t.Fatalf("object not stored again: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, cas.ErrCorrupt) {
				t.Fatalf("Restore = %v, want ErrUnavailable and cas.ErrCorrupt", err)
			}
			if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s exists after a failed restore", dst)
			}
		})
	}
}

// A write error while copying is the caller's problem, not a reason to
// recompute.
func TestRestoreCopyError(t *testing.T) {
	t.Parallel()
	real := newStore(t)
	src := filepath.Join(t.TempDir(), "src")
	writeOld(t, src, []byte("data"), 0o644)
	rec := mustCapture(t, real, "Out", src)
	boom := errors.New("disk full")
	st := &faultStore{Store: real, copyTo: func(cas.ID, *os.File) (int64, error) { return 0, boom }}
	dst := filepath.Join(t.TempDir(), "dst")
	if _, _, err := restore(st, rec, dst, trustAll); !errors.Is(err, boom) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("restore = %v, want the copy error", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 0 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

func TestRestoreMaxPaths(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeOld(t, src, []byte("data"), 0o644)
	rec := mustCapture(t, st, "Out", src)
	var all []string
	for i := range MaxPaths + 5 {
		p := filepath.Join(dir, fmt.Sprint("copy", i))
		all = append(all, p)
		var changed bool
		rec, changed = mustRestore(t, st, rec, p)
		if !changed {
			t.Fatalf("restore %d: not changed", i)
		}
	}
	if len(rec.Paths) != MaxPaths {
		t.Fatalf("%d paths kept, want %d", len(rec.Paths), MaxPaths)
	}
	for i, pr := range rec.Paths {
		if want := all[len(all)-MaxPaths+i]; pr.Path != want {
			t.Fatalf("Paths[%d] = %s, want %s", i, pr.Path, want)
		}
	}
}

func TestRestoreConcurrentSamePath(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	data := testutil.Bytes(14, 256<<10)
	writeOld(t, src, data, 0o644)
	rec := mustCapture(t, st, "Out", src)
	dst := filepath.Join(dir, "dst")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, _, err := Restore(st, rec, dst, trustAll); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantContent(t, dst, data)
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

// umask returns this process's umask (from /proc on Linux; 022 elsewhere),
// without setting it: tests run in parallel.
func umask() os.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return os.FileMode(m)
				}
			}
		}
	}
	return 0o022
}
