package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "out")
	for _, durable := range []bool{false, true} {
		if err := WriteFileAtomic(dir, final, []byte("content"), 0o600, durable); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(final)
		if err != nil || string(b) != "content" {
			t.Fatalf("read back %q, %v", b, err)
		}
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing"), final, []byte("x"), 0o600, false); err == nil {
		t.Fatal("a missing temp dir succeeded")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"+TempSuffix))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

func TestUniqueNames(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		u := Unique()
		if seen[u] || !strings.HasPrefix(u, Host()+".") {
			t.Fatalf("name %q repeated or without host prefix", u)
		}
		seen[u] = true
	}
}

func TestKind(t *testing.T) {
	cases := map[os.FileMode]string{
		os.ModeDir:       "directory",
		os.ModeSymlink:   "symbolic link",
		os.ModeNamedPipe: "named pipe",
		os.ModeSocket:    "socket",
		os.ModeDevice:    "device",
	}
	for m, want := range cases {
		if got := Kind(m); got != want {
			t.Errorf("Kind(%v) = %q, want %q", m, got, want)
		}
	}
}

func TestSyncData(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("appended"); err != nil {
		t.Fatal(err)
	}
	if err := SyncData(f); err != nil {
		t.Fatalf("SyncData of an open file: %v", err)
	}
	f.Close()
	if err := SyncData(f); err == nil {
		t.Fatal("SyncData of a closed file: no error")
	}
}

// TestCreateTemp: a temp file is new (never one already there), private to
// the umask like any file the process creates, and readable and writable
// through the *os.File returned.
func TestCreateTemp(t *testing.T) {
	dir := t.TempDir()
	for _, perm := range []os.FileMode{0o644, 0o600, 0o444} {
		f, err := CreateTemp(dir, "x-", perm)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 5)
		if _, err := f.ReadAt(b, 0); err != nil || string(b) != "hello" {
			t.Fatalf("read back %q, %v", b, err)
		}
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm()&^perm != 0 {
			t.Errorf("mode %v, asked %v", fi.Mode().Perm(), perm)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := createExcl(f.Name(), perm); !errors.Is(err, fs.ErrExist) {
			t.Errorf("creating %s again: %v, want an error wrapping fs.ErrExist", f.Name(), err)
		}
	}
}

// TestLocalFS: only a file system known to be local lets a closing Store
// unmap in the background; anything else, or an error, means at once.
func TestLocalFS(t *testing.T) {
	if runtime.GOOS != "linux" {
		if LocalFS(t.TempDir()) {
			t.Error("LocalFS true where file systems are not told apart")
		}
		return
	}
	for _, dir := range []string{"/proc", "/sys", filepath.Join(t.TempDir(), "missing")} {
		if LocalFS(dir) {
			t.Errorf("LocalFS(%s) is true", dir)
		}
	}
	t.Logf("LocalFS(%s) = %v", t.TempDir(), LocalFS(t.TempDir()))
}
