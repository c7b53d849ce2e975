package outfile

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/testutil"
)

// writeBig writes size bytes (distinct in every MiB) to path, streaming.
func writeBig(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	block := testutil.Bytes(42, 1<<20)
	for off := int64(0); off < size; off += int64(len(block)) {
		block[0], block[1], block[2] = byte(off>>20), byte(off>>28), byte(off>>36)
		n := min(int64(len(block)), size-off)
		if _, err := w.Write(block[:n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	backdate(t, path)
}

// A 512 MiB out file is captured, restored, checked and recovered with well
// under 128 MiB of heap: nothing reads it into memory whole. Under the race
// detector, which makes it three times slower, the file is 160 MiB: still
// more than the limit, so a whole-file read would fail the test all the same.
func TestBigFileMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 512 MiB several times; skipped with -short")
	}
	var size int64 = 512 << 20
	if testutil.Race {
		size = 160 << 20
	}
	const limit = 128 << 20
	st := newStore(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeBig(t, src, size)

	steps := []struct {
		name string
		run  func(rec record) record
	}{
		{"restore to a new path", func(rec record) record {
			rec, _ = mustRestore(t, st, rec, filepath.Join(dir, "copy"))
			return rec
		}},
		{"restore onto an identical unrecorded file (hash)", func(rec record) record {
			rec.Paths = rec.Paths[:1]
			rec, _ = mustRestore(t, st, rec, filepath.Join(dir, "copy"))
			return rec
		}},
		{"recover from a path after the object was lost", func(rec record) record {
			if err := st.Delete(rec.Object); err != nil {
				t.Fatal(err)
			}
			rec, _ = mustRestore(t, st, rec, filepath.Join(dir, "copy2"))
			return rec
		}},
	}
	runtime.GC()
	var rec record
	t0 := time.Now()
	got := testutil.Allocated(func() { rec = mustCapture(t, st, "Out", src) })
	t.Logf("capture: %v, %d KiB allocated", time.Since(t0), got>>10)
	if got > limit {
		t.Errorf("capture allocated %d MiB", got>>20)
	}
	for _, s := range steps {
		t0 := time.Now()
		got := testutil.Allocated(func() { rec = s.run(rec) })
		t.Logf("%s: %v, %d KiB allocated", s.name, time.Since(t0), got>>10)
		if got > limit {
			t.Errorf("%s allocated %d MiB", s.name, got>>20)
		}
	}
	if err := st.Verify(rec.Object); err != nil {
		t.Fatal(err)
	}
	if fi := mustStat(t, filepath.Join(dir, "copy2")); fi.Size() != size {
		t.Fatalf("restored %d bytes", fi.Size())
	}
	if rec.Size != size || rec.Object == (cas.ID{}) {
		t.Fatalf("record %+v", rec)
	}
}
