package board

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestBoard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks", "board")
	a := Open(path, true)
	if a == nil {
		if runtime.GOOS != "windows" {
			t.Fatal("no board on a unix system")
		}
		t.Skip("no mmap here")
	}
	defer a.Close()
	b := Open(path, true) // another process's mapping of the same file
	defer b.Close()
	ro := Open(path, false)
	defer ro.Close()
	topic, other := TopicOf("manifest:f"), TopicOf("manifest:g")
	v0, ok := b.Load(topic)
	if !ok || v0 != 0 {
		t.Fatalf("fresh counter = %d, %v", v0, ok)
	}
	a.Bump(topic)
	a.Bump(topic)
	if v, ok := b.Load(topic); !ok || v != 2 {
		t.Fatalf("after two bumps another mapping reads %d, %v", v, ok)
	}
	if v, _ := ro.Load(topic); v != 2 {
		t.Fatalf("a read-only mapping reads %d", v)
	}
	ro.Bump(topic) // ignored
	if v, _ := a.Load(topic); v != 2 {
		t.Fatalf("a read-only bump changed the counter: %d", v)
	}
	if topic == other {
		t.Skip("test topics collide")
	}
	if v, _ := a.Load(other); v != 0 {
		t.Fatalf("another topic moved: %d", v)
	}
	// A nil board, and one whose file was truncated under it, say "changed".
	var none *Board
	if _, ok := none.Load(topic); ok {
		t.Fatal("a nil board claims to know")
	}
	none.Bump(topic)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Load(topic); ok {
		t.Fatal("a truncated board claims to know")
	}
	a.Bump(topic) // must not crash
	if Open(filepath.Join(t.TempDir(), "missing"), false) != nil {
		t.Fatal("a read-only open of a missing board returned a board")
	}
}
