package outfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/testutil"
)

// within fails the test if f does not return in time: a fifo opened for
// reading without O_NONBLOCK would block forever.
func within(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("hung (blocked on a fifo?)")
	}
}

// A manifest from an untrusted machine can list any paths. Restore reads
// them only as regular files and writes only the requested path.
func TestRestoreHostilePaths(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 11} { // 0: fifos and devices have the record's size
		st := newStore(t)
		dir := t.TempDir()
		data := testutil.Bytes(20, size)
		id := cas.Sum(data)

		passwd := filepath.Join(dir, "passwd") // other bytes (of the same size for size 11)
		writeOld(t, passwd, []byte("root:x:0:0:"), 0o644)
		fifo := filepath.Join(dir, "fifo")
		mkfifo(t, fifo)
		linkToFifo := filepath.Join(dir, "link-to-fifo")
		if err := os.Symlink(fifo, linkToFifo); err != nil {
			t.Fatal(err)
		}
		adir := filepath.Join(dir, "adir")
		if err := os.Mkdir(adir, 0o755); err != nil {
			t.Fatal(err)
		}
		watched := []string{passwd, fifo, linkToFifo, adir}
		before := map[string]os.FileInfo{}
		for _, p := range watched {
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			before[p] = fi
		}
		rec := record{Arg: "Out", Object: id, Size: int64(size), Mode: 0o644}
		for _, p := range []string{passwd, fifo, linkToFifo, adir, devNull, "relative/passwd", "", passwd} {
			rec.Paths = append(rec.Paths, pathRecord{Path: p, MtimeNs: 1, Size: int64(size)})
		}
		dst := filepath.Join(dir, "dst")
		var err error
		within(t, func() { _, _, err = Restore(st, rec, dst, trustAll) })
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("size %d: Restore = %v, want ErrUnavailable", size, err)
		}
		for _, p := range watched {
			fi, err := os.Lstat(p)
			if err != nil || !os.SameFile(fi, before[p]) || !fi.ModTime().Equal(before[p].ModTime()) || fi.Mode() != before[p].Mode() {
				t.Errorf("size %d: %s was touched", size, p)
			}
		}
	}
}

// A recorded path that really holds the bytes is read, never written, even
// when the request is elsewhere.
func TestRestoreHostileReadOnly(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "etc", "passwd")
	data := []byte("root:x:0:0:root:/root:/bin/sh\n")
	writeOld(t, secret, data, 0o600)
	before := mustStat(t, secret)
	rec := record{Arg: "Out", Object: cas.Sum(data), Size: int64(len(data)), Mode: 0o6777,
		Paths: []pathRecord{{Path: secret, MtimeNs: before.ModTime().UnixNano(), Size: int64(len(data))}}}
	dst := filepath.Join(dir, "dst")
	mustRestore(t, st, rec, dst)
	wantContent(t, dst, data)
	if got, want := mustStat(t, dst).Mode(), 0o777&^umask(); got != want {
		t.Errorf("restored mode %v, want %v (the record's 0777 under the umask, no setuid/setgid)", got, want)
	}
	after := mustStat(t, secret)
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) || after.Mode() != 0o600 {
		t.Error("the recorded path was modified")
	}
}

func TestRestoreBadRecord(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeOld(t, src, []byte("twelve bytes"), 0o644)
	good := mustCapture(t, st, "Out", src)
	tests := []struct {
		name string
		mod  func(*record)
	}{
		{"negative size", func(r *record) { r.Size = -1 }},
		{"zero object", func(r *record) { r.Object = cas.ID{} }},
		{"size disagrees with object", func(r *record) { r.Size = 5; r.Paths = nil }},
		{"unknown object, no paths", func(r *record) { r.Object = cas.Sum([]byte("other")); r.Paths = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := good
			tt.mod(&rec)
			dst := filepath.Join(t.TempDir(), "dst")
			if _, _, err := Restore(st, rec, dst, trustAll); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Restore = %v, want ErrUnavailable", err)
			}
			if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("destination written from a bad record")
			}
		})
	}
}

func TestOpenRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	mkfifo(t, fifo)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(dir, "reg")
	writeOld(t, reg, []byte("x"), 0o644)
	regLink := filepath.Join(dir, "reglink")
	if err := os.Symlink(reg, regLink); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		ok   bool
	}{
		{fifo, false}, {link, false}, {dir, false}, {devNull, false},
		{filepath.Join(dir, "missing"), false},
		{reg, true}, {regLink, true},
	}
	for _, tt := range tests {
		within(t, func() {
			f, _, err := openRegular(tt.path)
			if (err == nil) != tt.ok {
				t.Errorf("openRegular(%s) err = %v, want ok=%v", tt.path, err, tt.ok)
			}
			if err == nil {
				f.Close()
			}
		})
	}
}
