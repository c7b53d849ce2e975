package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/maintain"
)

// TestCatObject: cat-object prints a packed and a loose object's bytes,
// which hash to their IDs; a corrupt one exits 1.
func TestCatObject(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := pcache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := pcache.MustWrap(s, "cat/f", func(_ context.Context, n int) ([]byte, error) { return bytes.Repeat([]byte{byte(n)}, n), nil })
	for _, n := range []int{100, 300 << 10} { // packed, loose
		if _, err := f.Call(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	var list []maintain.EntryInfo
	decodeJSON(t, runCLICode(t, exitOK, "ls", "cat/f", "-json", "-dir", dir).stdout, &list)
	if len(list) != 2 {
		t.Fatalf("%d entries", len(list))
	}
	for _, e := range list {
		out := runCLICode(t, exitOK, "cat-object", e.Result, "-dir", dir).stdout
		sum := blake3.Sum256([]byte(out))
		if hex.EncodeToString(sum[:]) != e.Result || int64(len(out)) != e.Size {
			t.Fatalf("cat-object %s: %d bytes hashing to %x", e.Result[:12], len(out), sum[:6])
		}
	}
	// Damage the loose one.
	loose, _ := filepath.Glob(filepath.Join(dir, "objects", "??", "*"))
	if len(loose) != 1 {
		t.Fatalf("%d loose objects", len(loose))
	}
	b, _ := os.ReadFile(loose[0])
	b[10] ^= 1
	os.Chmod(loose[0], 0o644) // objects are read-only: only root writes them without this
	if err := os.WriteFile(loose[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	id := filepath.Base(filepath.Dir(loose[0])) + filepath.Base(loose[0])
	if r := runCLI(t, "cat-object", id, "-dir", dir); r.code != exitProblems || r.stdout != "" {
		t.Fatalf("cat-object of a corrupt object: exit %d, %d bytes out", r.code, len(r.stdout))
	}
	runCLICode(t, exitUsage, "cat-object", "abc", "-dir", dir)
}
