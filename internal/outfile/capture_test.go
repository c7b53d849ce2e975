package outfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/testutil"
)

func TestCaptureRecord(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	data := testutil.Bytes(1, 3<<20+5)
	p := filepath.Join(dir, "out.bin")
	writeOld(t, p, data, 0o640)
	rec := mustCapture(t, st, "Out", p)
	fi := mustStat(t, p)
	want := record{Arg: "Out", Object: cas.Sum(data), Size: int64(len(data)), Mode: 0o640,
		Paths: []pathRecord{{Path: p, MtimeNs: fi.ModTime().UnixNano(), Size: int64(len(data))}}}
	if rec.Arg != want.Arg || rec.Object != want.Object || rec.Size != want.Size || rec.Mode != want.Mode ||
		len(rec.Paths) != 1 || rec.Paths[0] != want.Paths[0] {
		t.Fatalf("Capture = %+v\nwant      %+v", rec, want)
	}
	if b, err := st.Get(rec.Object, -1); err != nil || string(b) != string(data) {
		t.Fatalf("object not stored: %v", err)
	}
}

func TestCaptureErrors(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, filepath.Join(dir, "fifo"))
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       []error // all must match
	}{
		{"missing", filepath.Join(dir, "never-written"), []error{ErrMissing}},
		{"missing dir", filepath.Join(dir, "no", "such", "file"), []error{ErrMissing}},
		{"dangling link", filepath.Join(dir, "dangling"), []error{ErrMissing}},
		{"directory", filepath.Join(dir, "adir"), []error{ErrMissing, ErrNotRegular}},
		{"fifo", filepath.Join(dir, "fifo"), []error{ErrMissing, ErrNotRegular}},
		{"device", devNull, []error{ErrMissing, ErrNotRegular}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Capture(st, "Result", tt.path)
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Fatalf("Capture(%s) = %v, want it to wrap %v", tt.path, err, w)
				}
			}
			if msg := err.Error(); !strings.Contains(msg, "Result") || !strings.Contains(msg, tt.path) {
				t.Errorf("error %q does not name the argument and the path", msg)
			}
		})
	}
	t.Run("relative", func(t *testing.T) {
		_, err := Capture(st, "Result", "rel/path")
		if err == nil || errors.Is(err, ErrMissing) {
			t.Fatalf("Capture(relative) = %v, want a not-absolute error", err)
		}
	})
}

func TestCaptureFollowsSymlink(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	dir := t.TempDir()
	data := []byte("target bytes")
	target := filepath.Join(dir, "target")
	writeOld(t, target, data, 0o600)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	rec := mustCapture(t, st, "Out", link)
	if rec.Object != cas.Sum(data) || rec.Paths[0].Path != link || rec.Mode != 0o600 {
		t.Fatalf("Capture(link) = %+v", rec)
	}
}

// A file that changes while it is stored is captured again; the record never
// pairs one version's hash with another's size or time.
func TestCaptureRetriesChangingFile(t *testing.T) {
	t.Parallel()
	real := newStore(t)
	p := filepath.Join(t.TempDir(), "out")
	writeOld(t, p, []byte("first version"), 0o644)
	final := []byte("second, longer version")
	calls := 0
	st := &faultStore{Store: real}
	st.putReader = func(r io.Reader) (cas.ID, int64, error) {
		calls++
		id, n, err := real.PutReader(r)
		if calls == 1 { // the function rewrites its output mid-capture
			writeOld(t, p, final, 0o644)
		}
		return id, n, err
	}
	rec, err := capture(st, "Out", p)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || rec.Object != cas.Sum(final) || rec.Size != int64(len(final)) || rec.Paths[0].Size != rec.Size {
		t.Fatalf("calls=%d rec=%+v, want the second version captured on the second attempt", calls, rec)
	}

	// One that never settles is an error.
	st.putReader = func(r io.Reader) (cas.ID, int64, error) {
		id, n, err := real.PutReader(r)
		f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		f.Write([]byte("x"))
		f.Close()
		return id, n, err
	}
	if _, err := capture(st, "Out", p); err == nil || !strings.Contains(err.Error(), "changing") {
		t.Fatalf("capture of an ever-changing file = %v, want an error", err)
	}
}

func TestTrustedMtime(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 500_000_000, time.UTC)
	tests := []struct {
		name string
		m    time.Time
		want bool // trusted
	}{
		{"fine, old", now.Add(-time.Second), true},
		{"fine, just outside window", now.Add(-racyFine - time.Millisecond), true},
		{"fine, inside window", now.Add(-10 * time.Millisecond), false},
		{"future", now.Add(time.Hour), false},
		{"whole second, 1s old", now.Truncate(time.Second).Add(-time.Second), false},
		{"whole second, 3s old", now.Truncate(time.Second).Add(-3 * time.Second), true},
		{"epoch", time.Unix(0, 0), false},
	}
	for _, tt := range tests {
		got := trustedMtimeAt(tt.m, now)
		if (got != 0) != tt.want || (tt.want && got != tt.m.UnixNano()) {
			t.Errorf("%s: trustedMtimeAt = %d, want trusted=%v", tt.name, got, tt.want)
		}
	}
}

// A file captured right after it was written gets MtimeNs 0: its time cannot
// yet prove it unchanged.
func TestCaptureRacyFile(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	p := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(p, []byte("fresh"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour) // deterministic "just written"
	if err := os.Chtimes(p, future, future); err != nil {
		t.Fatal(err)
	}
	rec := mustCapture(t, st, "Out", p)
	if rec.Paths[0].MtimeNs != 0 {
		t.Fatalf("racy capture recorded MtimeNs %d, want 0", rec.Paths[0].MtimeNs)
	}
}
