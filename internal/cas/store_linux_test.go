package cas

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pcache/pcache/internal/layout"
)

// tmp/ on another file system than objects/ must be refused: renames would
// fail (EXDEV) or, through union mounts, not be atomic.
func TestOpenRejectsTmpOnOtherFileSystem(t *testing.T) {
	t.Parallel()
	shm, err := os.MkdirTemp("/dev/shm", "cas-test-")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	root := t.TempDir()
	var a, b syscall.Stat_t
	if syscall.Stat(root, &a) != nil || syscall.Stat(shm, &b) != nil || a.Dev == b.Dev {
		t.Skip("/dev/shm is on the same device as the temp dir")
	}
	if err := os.Symlink(shm, filepath.Join(root, "tmp")); err != nil {
		t.Fatal(err)
	}
	_, err = Open(layout.New(root), Options{})
	if !errors.Is(err, syscall.EXDEV) || !strings.Contains(err.Error(), "different file systems") {
		t.Fatalf("Open with tmp on another file system: %v, want EXDEV error", err)
	}
}
