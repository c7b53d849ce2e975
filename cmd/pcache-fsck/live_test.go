package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/board"
	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
)

// liveWriter is this test process acting as a program that keeps its cache
// open while the real pcache-fsck (another process) runs: its journal and
// its pack are locked, so maintenance must leave them alone. close lets
// them go as the program's exit would.
type liveWriter struct {
	c     *testCache
	m     *manifest.Manifest
	close func()
}

// openLive opens a cache whose function f has n entries written by a
// writer that stays open: with packed, their results sit in its unsealed
// pack (and its journal is closed); without, they are loose objects and
// its journal stays open.
func openLive(t *testing.T, packed bool, n int) *liveWriter {
	t.Helper()
	dir := t.TempDir()
	d := layout.New(dir)
	if err := d.WriteMarker(); err != nil {
		t.Fatal(err)
	}
	b := board.Open(d.Board(), true) // as pcache.Open does: seal requests reach the writer
	t.Cleanup(b.Close)
	opts := cas.Options{PackLimit: -1, Board: b}
	if packed {
		opts.PackLimit = 0
	}
	s, err := cas.Open(d, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCache{T: t, Dir: dir, Store: s}
	lw := &liveWriter{c: c}
	if packed {
		c.Fill("f", n, nil)
		lw.close = func() { s.Close() }
	} else {
		m, err := manifest.Open(d, "f", manifest.Options{Board: b}) // as pcache.Open does: rotate requests reach it
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if err := m.Append(c.Entry(fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("value %d of f", i)))); err != nil {
				t.Fatal(err)
			}
		}
		lw.m = m
		lw.close = func() { m.Close(); s.Close() }
	}
	closed := false
	close := lw.close
	lw.close = func() {
		if !closed {
			closed = true
			close()
		}
	}
	t.Cleanup(lw.close)
	return lw
}

// flip damages one byte of path at off (from the end when negative),
// making the file writable first (sealed packs and objects are 0444).
func flip(t *testing.T, path string, off int64) {
	t.Helper()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0x55
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func onlyFile(t *testing.T, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) != 1 {
		t.Fatalf("want one file matching %s: %v %v", pattern, m, err)
	}
	return m[0]
}

// TestRepairBesideLiveWriter (issue 21, item 5): check -repair never says
// it converged while damage it cannot touch remains. A damaged journal or
// pack of a process that is still running is left alone (it is locked);
// the repair then names the file and the process, exits 1, and suggests
// check -repair again (not check, which would fail the same way). Once
// the process has closed its cache, check -repair fixes it and check is
// clean. Before, it printed "0 failed" (and "rewrote …: kept every good
// record" for a journal it had not touched), exited 0 and suggested check.
//
// The writer is this test process, so the test does not run in parallel
// with the others: a child that a parallel test forks holds the writer's
// locked files until it execs, and the writer's letting go of them would
// not be seen at once. (Not testutil.Alone either: a process of its own
// would check the build of pcache-fsck again, which costs more than the
// test.)
func TestRepairBesideLiveWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		packed bool
		damage func(t *testing.T, dir string) string // returns the damaged file, relative
		// unblock makes the damaged file repairable while its writer still
		// runs: asked by the repair, the writer closes its journal, or
		// seals its pack, on its next write.
		unblock func(lw *liveWriter)
	}{
		{"journal", false, func(t *testing.T, dir string) string {
			j := onlyFile(t, filepath.Join(layout.New(dir).Manifest("f"), "j-*"))
			flip(t, j, -3) // inside the last record
			return strings.TrimPrefix(j, dir+"/")
		}, func(lw *liveWriter) {
			if err := lw.m.Append(lw.c.Entry("later", []byte("a later value of f"))); err != nil {
				t.Fatal(err)
			}
		}},
		{"pack", true, func(t *testing.T, dir string) string {
			p := onlyFile(t, filepath.Join(layout.New(dir).Packs(), "*.pcp"))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			off := bytes.Index(b, []byte("value 3 of f"))
			if off < 0 {
				t.Fatal("value 3 not in the live pack")
			}
			flip(t, p, int64(off))
			return strings.TrimPrefix(p, dir+"/")
		}, func(lw *liveWriter) { lw.c.Fill("g", 1, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lw := openLive(t, tc.packed, 8)
			dir := lw.c.Dir
			rel := tc.damage(t, dir)
			runCLICode(t, 1, "check", "-dir", dir)

			r := runCLICode(t, 1, "check", "-repair", "-dir", dir)
			want := "kept " + rel + ": damaged, but in use by a running writer"
			if !strings.Contains(r.stdout, want) {
				t.Errorf("check -repair beside the writer does not say %q:\n%s", want, r.stdout)
			}
			if pid := fmt.Sprintf("process %d", os.Getpid()); runtime.GOOS == "linux" && !strings.Contains(r.stdout, pid) {
				t.Errorf("check -repair does not name the writer (%s):\n%s", pid, r.stdout)
			}
			for _, bad := range []string{" 0 failed", "kept every good record", "next: pcache-fsck check -dir"} {
				if strings.Contains(r.stdout, bad) {
					t.Errorf("check -repair beside the writer says %q:\n%s", bad, r.stdout)
				}
			}
			if !strings.Contains(r.stdout, "next: pcache-fsck check -repair -dir") {
				t.Errorf("check -repair does not say to repair again:\n%s", r.stdout)
			}

			// Then the same command converges.
			tc.unblock(lw)
			r = runCLICode(t, 0, "check", "-repair", "-dir", dir)
			runCLICode(t, 0, "check", "-dir", dir)
			if !strings.Contains(r.stdout, "next: pcache-fsck check -dir") {
				t.Errorf("a repair that converged does not suggest check:\n%s", r.stdout)
			}
		})
	}
}

// TestGCBesideLiveWriter (issue 21, item 6): gc beside a program that keeps
// its cache open says why it kept the bytes in that program's pack (which
// pack, which process) instead of reporting "0 bytes" with no reason, and
// -max-size does not tombstone entries whose bytes it cannot free. It asks
// the writer (through the change board) to seal its pack: after the
// writer's next write, the next gc frees those bytes while it still runs.
// Like TestRepairBesideLiveWriter, it does not run in parallel.
func TestGCBesideLiveWriter(t *testing.T) {
	for _, tc := range []struct {
		name string
		pre  []string // run before gc
		gc   []string
		live int // entries of f left live
	}{
		{"rm then gc", []string{"rm", "f"}, []string{"gc", "-grace", "0s"}, 0},
		{"max-size", nil, []string{"gc", "-grace", "0s", "-max-size", "1"}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lw := openLive(t, true, 8)
			dir := lw.c.Dir
			pack := strings.TrimPrefix(onlyFile(t, filepath.Join(layout.New(dir).Packs(), "*.pcp")), dir+"/")
			if tc.pre != nil {
				runCLICode(t, 0, append(tc.pre, "-dir", dir)...)
			}
			r := runCLICode(t, 0, append(tc.gc, "-dir", dir)...)
			if want := "gc: kept " + pack + ": "; tc.live == 0 && !strings.Contains(r.stdout, want) {
				t.Errorf("gc does not say why it kept the live pack's bytes (%q):\n%s", want, r.stdout)
			}
			if !strings.Contains(r.stdout, "in use by a running writer") && !strings.Contains(r.stdout, "running writer's pack") {
				t.Errorf("gc gives no reason for what it kept:\n%s", r.stdout)
			}
			if pid := fmt.Sprintf("process %d", os.Getpid()); tc.live == 0 && runtime.GOOS == "linux" && !strings.Contains(r.stdout, pid) {
				t.Errorf("gc does not name the writer (%s):\n%s", pid, r.stdout)
			}
			if got := len(lw.c.Live("f")); got != tc.live {
				t.Errorf("%d entries live after gc, want %d:\n%s", got, tc.live, r.stdout)
			}

			// gc asked the writer to seal its pack: its next write does, and
			// the next gc frees the bytes while it still runs.
			lw.c.Fill("g", 1, nil)
			r = runCLICode(t, 0, append(tc.gc, "-dir", dir)...)
			if want := fmt.Sprintf("gc: removed %d entries, 8 objects (", tc.live); !strings.Contains(r.stdout, want) {
				t.Errorf("gc after the writer wrote again does not free the 8 objects (%q):\n%s", want, r.stdout)
			}
			if strings.Contains(r.stdout, "gc: kept "+pack) {
				t.Errorf("gc still keeps the pack the writer sealed:\n%s", r.stdout)
			}
			if got := len(lw.c.Live("f")); got != 0 {
				t.Errorf("%d entries of f live after the second gc, want 0", got)
			}
			for i := 0; i < 1; i++ {
				if !lw.c.Hit("g", fmt.Sprintf("k%d", i)) {
					t.Errorf("g k%d, written into the writer's new pack, is not served after gc", i)
				}
			}
			lw.close()
			runCLICode(t, 0, "check", "-dir", dir)
		})
	}
}
