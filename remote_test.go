package pcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/remote"
	"github.com/pcache/pcache/internal/remotetest"
	"github.com/pcache/pcache/internal/testutil"
)

// remoteKinds are the remotes every sharing test runs against: a shared
// directory. This test binary does not link the S3 backend (it is what a
// program without import _ "github.com/pcache/pcache/remote/s3" sees:
// TestRemoteS3NotLinked); the sharing tests over S3 are remote/s3's.
var remoteKinds = []string{"file"}

// remoteURL returns a fresh remote of the kind, set up only as a user
// would: a URL.
func remoteURL(t *testing.T, kind string) string {
	t.Helper()
	if kind != "file" {
		t.Fatalf("unknown remote kind %q", kind)
	}
	return "file://" + t.TempDir()
}

type shareArgs struct {
	N   int
	Out string `pcache:",out"`
}

type shareResult struct {
	Name   string
	Square int
	Blob   []byte
}

// shareFuncs wraps the functions the sharing tests use, counting
// computations: a plain one (small and large results), one with an out
// file, and a batch one.
type shareFuncs struct {
	plain    *pcache.Func[int, shareResult]
	outs     *pcache.Func[shareArgs, int]
	batch    *pcache.BatchFunc[int, string]
	computes atomic.Int64
}

func wrapShare(t *testing.T, s *pcache.Store) *shareFuncs {
	f := &shareFuncs{}
	f.plain = pcache.MustWrap(s, "share/plain", func(_ context.Context, n int) (shareResult, error) {
		f.computes.Add(1)
		size := 10
		if n%5 == 0 {
			size = 300 << 10 // a loose object, above the pack limit
		}
		return shareResult{Name: fmt.Sprint("n", n), Square: n * n, Blob: bytes.Repeat([]byte{byte(n)}, size)}, nil
	})
	f.outs = pcache.MustWrap(s, "share/outs", func(_ context.Context, a shareArgs) (int, error) {
		f.computes.Add(1)
		return a.N, os.WriteFile(a.Out, []byte(fmt.Sprintf("out file of %d\n", a.N)), 0o644)
	})
	f.batch = pcache.MustWrapBatch(s, "share/batch", func(_ context.Context, ns []int) ([]string, error) {
		f.computes.Add(1)
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = strings.Repeat("b", n)
		}
		return out, nil
	})
	return f
}

// run makes every call of the sharing tests and checks every value.
func (f *shareFuncs) run(t *testing.T, ctx context.Context, outDir string) {
	t.Helper()
	for n := range 30 {
		r, err := f.plain.Call(ctx, n)
		if err != nil || r.Square != n*n || r.Name != fmt.Sprint("n", n) || (len(r.Blob) > 0 && r.Blob[0] != byte(n)) {
			t.Fatalf("plain(%d) = %v, %v", n, r.Name, err)
		}
	}
	for n := range 5 {
		out := filepath.Join(outDir, fmt.Sprintf("out-%d.txt", n))
		if got, err := f.outs.Call(ctx, shareArgs{N: n, Out: out}); err != nil || got != n {
			t.Fatalf("outs(%d) = %d, %v", n, got, err)
		}
		if b, err := os.ReadFile(out); err != nil || string(b) != fmt.Sprintf("out file of %d\n", n) {
			t.Fatalf("out file %s = %q, %v", out, b, err)
		}
	}
	got, err := f.batch.Call(ctx, []int{1, 2, 3, 2, 7})
	if err != nil || strings.Join(got, ",") != "b,bb,bbb,bb,bbbbbbb" {
		t.Fatalf("batch = %q, %v", got, err)
	}
}

func TestRemoteSharesEveryEntry(t *testing.T) {
	t.Parallel()
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			url := remoteURL(t, kind)
			a, err := pcache.Open(t.TempDir(), pcache.Remote(url))
			if err != nil {
				t.Fatal(err)
			}
			fa := wrapShare(t, a)
			fa.run(t, ctx, t.TempDir())
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			st := a.Stats()
			if st.Uploads != st.Stores || st.UploadsDropped != 0 || st.RemoteErrors != 0 {
				t.Fatalf("first machine: %+v: want every stored entry uploaded", st)
			}

			// A second machine: its own local cache, the same remote.
			b := openStore(t, t.TempDir(), pcache.Remote(url))
			fb := wrapShare(t, b)
			fb.run(t, ctx, t.TempDir()) // out files restored to new paths
			if n := fb.computes.Load(); n != 0 {
				t.Fatalf("second machine computed %d times; want everything from the remote (stats %+v)", n, b.Stats())
			}
			if st := b.Stats(); st.RemoteHits == 0 || st.Misses != 0 {
				t.Fatalf("second machine: %+v", st)
			}
			// Served again, now from its local cache: no remote request.
			fb.run(t, ctx, t.TempDir())
			if n := fb.computes.Load(); n != 0 {
				t.Fatalf("computed %d on local hits", n)
			}
		})
	}
}

// TestRemoteLocalHitsStayLocal: a local hit makes no request at all.
func TestRemoteLocalHitsStayLocal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fb, err := remote.NewFileBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	faulty := remotetest.NewFaulty(fb)
	// An hour between index reads: the background read that keeps a
	// hit-only process current (one per function per period) is not made
	// within this test.
	s := openStore(t, t.TempDir(), pcache.RemoteBackend(faulty), pcache.RemoteRefresh(time.Hour))
	f := pcache.MustWrap(s, "local/hits", func(_ context.Context, n int) (int, error) { return n + 1, nil })
	for n := range 50 {
		mustCall(t, f, ctx, n)
	}
	if err := s.Flush(ctx); err != nil { // the misses' publishing is done
		t.Fatal(err)
	}
	before := faulty.Total()
	for range 3 {
		for n := range 50 {
			if got := mustCall(t, f, ctx, n); got != n+1 {
				t.Fatalf("f(%d) = %d", n, got)
			}
		}
	}
	if after := faulty.Total(); after != before {
		t.Fatalf("150 local hits made %d remote requests; want none", after-before)
	}
}

// TestRemoteFaults: whatever the remote does, calls return the right
// values, promptly, and Close does not hang. It runs in a process of its
// own (testutil.Alone), beside the parallel tests: its second machine has
// 200 ms to read the remote, which a process busy with them would miss.
func TestRemoteFaults(t *testing.T) {
	if !testutil.Alone(t) {
		return
	}
	cases := []struct {
		name  string
		setup func(f *remotetest.Faulty)
		// served: a second machine is served from the remote despite the fault
		served bool
		// published: the fault lets publishing through (else Close says
		// what it left)
		published bool
	}{
		{"down", func(f *remotetest.Faulty) { f.Down.Store(true) }, false, false},
		{"hangs", func(f *remotetest.Faulty) { f.Hang.Store(true) }, false, false},
		{"slow", func(f *remotetest.Faulty) { f.Latency.Store(int64(2 * time.Millisecond)) }, true, true},
		{"5xx every third request", func(f *remotetest.Faulty) { f.FailEvery.Store(3) }, true, true},
		{"torn bodies", func(f *remotetest.Faulty) { f.TornGets.Store(true) }, false, true},
		{"flipped bits", func(f *remotetest.Faulty) { f.FlipGets.Store(true) }, false, true},
		// Past the middle of a log entry is its "segments" key: renamed by
		// the flip, it read as an entry of no segments, and the second
		// machine computed everything and counted nothing.
		{"flipped bits past the middle", func(f *remotetest.Faulty) { f.FlipGets.Store(true); f.FlipAt.Store(33) }, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			fileB, err := remote.NewFileBackend(dir)
			if err != nil {
				t.Fatal(err)
			}
			// Every request that hangs waits out the request timeout;
			// -short, that case waits 50 ms instead of 200.
			request := 200 * time.Millisecond
			if tc.name == "hangs" && testing.Short() {
				request = 50 * time.Millisecond
			}
			fast := pcache.RemoteTimeouts(request, 2*time.Second)
			// The first machine publishes through a faulty remote too.
			faultyA := remotetest.NewFaulty(fileB)
			tc.setup(faultyA)
			a, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(faultyA), fast, pcache.WithLogger(quiet()))
			if err != nil {
				t.Fatal(err)
			}
			fa := wrapShare(t, a)
			fa.run(t, ctx, t.TempDir())
			closeLeaving(t, a, 20*time.Second, !tc.published)
			t.Logf("first machine: %+v", a.Stats())

			// A second machine reads a faulty remote; the first machine's
			// entries were published if the fault let them through.
			faultyB := remotetest.NewFaulty(fileB)
			tc.setup(faultyB)
			b := openStore(t, t.TempDir(), pcache.RemoteBackend(faultyB), fast, pcache.WithLogger(quiet()))
			fb := wrapShare(t, b)
			fb.run(t, ctx, t.TempDir())
			if tc.served && fb.computes.Load() != 0 {
				t.Fatalf("computed %d times under %s; want the remote to serve (stats %+v)", fb.computes.Load(), tc.name, b.Stats())
			}
			// Closed first: Close waits for publishing, which may count
			// errors of its own.
			closeLeaving(t, b, 20*time.Second, !tc.published)
			if st := b.Stats(); !tc.served && st.RemoteErrors == 0 && st.RemoteHits == 0 {
				t.Fatalf("under %s the second machine counted no remote errors: %+v", tc.name, st)
			}
			// Nothing unverified reached the local cache.
			if rep, err := b.Check(ctx, pcache.CheckOptions{}); err != nil || !rep.Clean || rep.Hints != 0 {
				t.Fatalf("local cache after %s: %+v %v", tc.name, rep, err)
			}
		})
	}
}

// closeWithin closes s, failing the test if that takes longer than limit
// (a hang, not a speed: the flush timeout is far shorter).
func closeWithin(t *testing.T, s *pcache.Store, limit time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(limit):
		t.Fatalf("Close did not return within %v", limit)
	}
}

// closeLeaving closes s within limit (a hang, not a speed), requiring
// Close's error to say that entries were left unpublished if and only if
// left.
func closeLeaving(t *testing.T, s *pcache.Store, limit time.Duration, left bool) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		var ue *pcache.UnpublishedError
		switch {
		case left && (!errors.As(err, &ue) || ue.Entries == 0):
			t.Fatalf("Close = %v; want an error naming the entries left unpublished", err)
		case !left && err != nil:
			t.Fatal(err)
		}
		if left && strings.Count(err.Error(), "pcache:") != 1 {
			t.Fatalf("Close = %v: want one prefix", err)
		}
	case <-time.After(limit):
		t.Fatalf("Close did not return within %v", limit)
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestRemoteIgnoringConditionsIsReadOnly: a server that lets a second
// create-only put overwrite is detected, and then only read.
func TestRemoteIgnoringConditionsIsReadOnly(t *testing.T) {
	ctx := context.Background()
	fileB, err := remote.NewFileBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// A proper writer publishes first.
	a, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(fileB))
	if err != nil {
		t.Fatal(err)
	}
	fa := wrapShare(t, a)
	fa.run(t, ctx, t.TempDir())
	closeWithin(t, a, 20*time.Second)

	bad := remotetest.NewFaulty(fileB)
	bad.IgnoreConditions.Store(true)
	var logs syncBuffer
	b := openStore(t, t.TempDir(), pcache.RemoteBackend(bad), pcache.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	fb := wrapShare(t, b)
	fb.run(t, ctx, t.TempDir())
	if fb.computes.Load() != 0 {
		t.Fatalf("a read-only remote still serves: computed %d", fb.computes.Load())
	}
	g := pcache.MustWrap(b, "share/new", func(_ context.Context, n int) (int, error) { return n, nil })
	for n := range 10 {
		mustCall(t, g, ctx, n)
	}
	closeWithin(t, b, 20*time.Second)
	if st := b.Stats(); st.Uploads != 0 {
		t.Fatalf("published %d entries to a remote that ignores create-only puts", st.Uploads)
	}
	if !strings.Contains(logs.String(), "ignores create-only writes") {
		t.Fatalf("no warning about the remote; log:\n%s", logs.String())
	}
}

// TestRemoteMissingObjectIsRecomputed: an entry whose remote object is
// gone is a miss; the recomputed result is published again.
func TestRemoteMissingObjectIsRecomputed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	url := "file://" + dir
	a, err := pcache.Open(t.TempDir(), pcache.Remote(url))
	if err != nil {
		t.Fatal(err)
	}
	fa := wrapShare(t, a)
	fa.run(t, ctx, t.TempDir())
	closeWithin(t, a, 20*time.Second)
	if err := os.RemoveAll(filepath.Join(dir, "objects")); err != nil {
		t.Fatal(err)
	}
	b, err := pcache.Open(t.TempDir(), pcache.Remote(url), pcache.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	fb := wrapShare(t, b)
	fb.run(t, ctx, t.TempDir())
	if fb.computes.Load() == 0 {
		t.Fatal("nothing computed although every remote object was gone")
	}
	closeWithin(t, b, 20*time.Second)
	c := openStore(t, t.TempDir(), pcache.Remote(url))
	fc := wrapShare(t, c)
	fc.run(t, ctx, t.TempDir())
	if n := fc.computes.Load(); n != 0 {
		t.Fatalf("after the recompute was published, a third machine computed %d times", n)
	}
}

// TestRemoteReadOnlyMode: PCACHE_REMOTE_MODE=ro serves and publishes nothing.
func TestRemoteReadOnlyMode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("PCACHE_REMOTE", "file://"+dir)
	a, err := pcache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fa := wrapShare(t, a)
	fa.run(t, ctx, t.TempDir())
	closeWithin(t, a, 20*time.Second)

	t.Setenv("PCACHE_REMOTE_MODE", "ro")
	b := openStore(t, t.TempDir())
	fb := wrapShare(t, b)
	fb.run(t, ctx, t.TempDir())
	if fb.computes.Load() != 0 {
		t.Fatalf("read-only remote: computed %d", fb.computes.Load())
	}
	g := pcache.MustWrap(b, "ro/new", func(_ context.Context, n int) (int, error) { return n, nil })
	mustCall(t, g, ctx, 1)
	closeWithin(t, b, 20*time.Second)
	if st := b.Stats(); st.Uploads != 0 {
		t.Fatalf("PCACHE_REMOTE_MODE=ro published %d entries", st.Uploads)
	}

	// A bad PCACHE_REMOTE_MODE costs the remote, never the local cache
	// (TestConfigMistakesAreLoud checks the local cache serves).
	t.Setenv("PCACHE_REMOTE_MODE", "sometimes")
	var logs strings.Builder
	c, err := pcache.Open(t.TempDir(), pcache.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("a bad PCACHE_REMOTE_MODE failed Open: %v", err)
	}
	c.Close()
	if !strings.Contains(logs.String(), "PCACHE_REMOTE_MODE") || !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a bad PCACHE_REMOTE_MODE was not logged at error level:\n%s", logs.String())
	}
}

func TestRemoteBadURL(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"bucket/prefix", "http://example.com/x", "s3:///nobucket", "file://host/path", "file:///tmp/x?mode=ro"} {
		if _, err := pcache.Open(t.TempDir(), pcache.Remote(url)); err == nil || !strings.HasPrefix(err.Error(), "pcache: ") || strings.Count(err.Error(), "pcache:") != 1 {
			t.Errorf("Remote(%q): %v; want one clear error", url, err)
		}
	}
}

// s3Import is the line a program adds for s3:// remotes.
const s3Import = `import _ "github.com/pcache/pcache/remote/s3"`

// TestRemoteS3NotLinked: in a program without the S3 backend (this test
// binary), $PCACHE_REMOTE=s3://... costs the remote only: Open succeeds,
// calls compute once and then hit locally, and the error, logged once at
// error level, names the import to add. The Remote option's s3:// URL is
// the program's own mistake: Open returns that error, wrapping
// remote.ErrNoBackend.
func TestRemoteS3NotLinked(t *testing.T) {
	ctx := context.Background()
	t.Setenv("PCACHE_REMOTE", "s3://team-cache/pcache")
	var logs strings.Builder
	s, err := pcache.Open(t.TempDir(), pcache.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("$PCACHE_REMOTE=s3://... without the S3 backend failed Open: %v", err)
	}
	computes := 0
	f := pcache.MustWrap(s, "nos3/sq", func(_ context.Context, n int) (int, error) { computes++; return n * n, nil })
	for range 3 {
		if got := mustCall(t, f, ctx, 7); got != 49 {
			t.Fatalf("got %d", got)
		}
	}
	if st := s.Stats(); computes != 1 || st.Hits != 2 || st.RemoteErrors != 0 {
		t.Fatalf("computed %d times, stats %+v; want one compute and two local hits", computes, st)
	}
	closeWithin(t, s, 20*time.Second)
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Fatalf("logged %d errors, want one:\n%s", n, logs.String())
	}
	// slog's text handler quotes the error: its quotes come escaped.
	if got := strings.ReplaceAll(logs.String(), `\"`, `"`); !strings.Contains(got, s3Import) || !strings.Contains(got, "PCACHE_REMOTE") {
		t.Fatalf("the log does not name $%s and the line %s:\n%s", "PCACHE_REMOTE", s3Import, logs.String())
	}

	for _, url := range []string{"s3://team-cache/pcache", "s3://team-cache/pcache?region=eu-west-1"} {
		_, err = pcache.Open(t.TempDir(), pcache.Remote(url))
		if !errors.Is(err, remote.ErrNoBackend) || !strings.Contains(err.Error(), s3Import) || !strings.HasPrefix(err.Error(), "pcache: ") {
			t.Fatalf("Remote(%q) without the S3 backend: %v; want remote.ErrNoBackend naming %s", url, err, s3Import)
		}
	}
}

// TestRemoteErrorOnMiss: a remote hit is a hit under ErrorOnMiss.
func TestRemoteErrorOnMiss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := "file://" + t.TempDir()
	a, err := pcache.Open(t.TempDir(), pcache.Remote(url))
	if err != nil {
		t.Fatal(err)
	}
	fa := wrapShare(t, a)
	fa.run(t, ctx, t.TempDir())
	closeWithin(t, a, 20*time.Second)
	b := openStore(t, t.TempDir(), pcache.Remote(url))
	fb := wrapShare(t, b)
	fb.run(t, pcache.ErrorOnMiss(ctx), t.TempDir())
	if _, err := fb.plain.Call(pcache.ErrorOnMiss(ctx), 1000); err == nil {
		t.Fatal("a key nobody computed was not a miss")
	}
}

// TestRemoteConcurrentWriters: goroutines of several stores publish
// overlapping keys at once; a fresh store sees the union.
func TestRemoteConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := "file://" + t.TempDir()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := pcache.Open(t.TempDir(), pcache.Remote(url))
			if err != nil {
				t.Error(err)
				return
			}
			f := pcache.MustWrap(s, "writers/sq", func(_ context.Context, n int) (int, error) { return n * n, nil })
			for n := w * 50; n < w*50+100; n++ {
				if _, err := f.Call(ctx, n); err != nil {
					t.Error(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s := openStore(t, t.TempDir(), pcache.Remote(url))
	f := pcache.MustWrap(s, "writers/sq", func(_ context.Context, n int) (int, error) { return -1, nil })
	for n := range 250 {
		got, err := f.Call(pcache.ErrorOnMiss(ctx), n)
		if err != nil || got != n*n {
			t.Fatalf("key %d: %d, %v (stats %+v)", n, got, err, s.Stats())
		}
	}
}

// syncBuffer collects a logger's output (testutil.LogBuffer).
type syncBuffer = testutil.LogBuffer

// TestRemoteSmallHitsNeedNoDownload: a small result travels inline in the
// remote's index, so a machine that hits it downloads no object of its
// own; a larger one is still downloaded. Every value is the computed one.
func TestRemoteSmallHitsNeedNoDownload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fb, err := remote.NewFileBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	value := func(n int) []byte {
		size := 20 + n
		if n%10 == 0 {
			size = remote.MaxInline + 100 // too large to travel inline
		}
		return bytes.Repeat([]byte{byte(n)}, size)
	}
	const keys = 100
	var computes atomic.Int64
	wrap := func(s *pcache.Store) *pcache.Func[int, []byte] {
		return pcache.MustWrap(s, "inline/bytes", func(_ context.Context, n int) ([]byte, error) {
			computes.Add(1)
			return value(n), nil
		})
	}
	a := openStore(t, t.TempDir(), pcache.RemoteBackend(fb))
	fa := wrap(a)
	for n := range keys {
		mustCall(t, fa, ctx, n)
	}
	closeWithin(t, a, 20*time.Second)

	faulty := remotetest.NewFaulty(fb)
	var objectGets, indexGets atomic.Int64
	faulty.OnRequest = func(op, key string) {
		switch {
		case op == "get" && strings.HasPrefix(key, "objects/"):
			objectGets.Add(1)
		case op == "get":
			indexGets.Add(1)
		}
	}
	computes.Store(0)
	b := openStore(t, t.TempDir(), pcache.RemoteBackend(faulty))
	fbn := wrap(b)
	for n := range keys {
		if got := mustCall(t, fbn, ctx, n); !bytes.Equal(got, value(n)) {
			t.Fatalf("f(%d) = %d bytes, want %d", n, len(got), len(value(n)))
		}
	}
	if n := computes.Load(); n != 0 {
		t.Fatalf("the second machine computed %d times", n)
	}
	if st := b.Stats(); st.RemoteHits != keys {
		t.Fatalf("remote hits %d, want %d (%+v)", st.RemoteHits, keys, st)
	}
	if got, want := objectGets.Load(), int64(keys/10); got != want {
		t.Fatalf("%d object downloads for %d hits; want %d (only the results too large to travel inline)", got, keys, want)
	}
	// The mirror's first read (the head, a checkpoint or the log) and its
	// periodic refreshes (Options.Refresh: a few in a slow run, under
	// -race), not a read per hit: a current mirror that holds the key
	// serves it.
	if got := indexGets.Load(); got >= keys/2 {
		t.Fatalf("%d reads of the remote index for %d remote hits; want a few, not one per hit", got, keys)
	}
}

// BenchmarkRemoteFreshMachineHits measures what a machine new to a team
// pays for its first calls: 200 remote hits on results computed elsewhere,
// each a distinct value, against a remote 20 ms away. Results under
// remote.MaxInline travel in the index; the 2 KiB ones (the floor: what
// every result cost before) are each a download of its own.
func BenchmarkRemoteFreshMachineHits(b *testing.B) {
	for _, size := range []int{100, 2 << 10} {
		b.Run(fmt.Sprintf("result=%dB", size), func(b *testing.B) {
			ctx := context.Background()
			fb, err := remote.NewFileBackend(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			const keys = 200
			value := func(n int) []byte { v := bytes.Repeat([]byte{byte(n)}, size); v[0] = byte(n >> 8); return v }
			fn := func(_ context.Context, n int) ([]byte, error) { return value(n), nil }
			a, err := pcache.Open(b.TempDir(), pcache.RemoteBackend(fb))
			if err != nil {
				b.Fatal(err)
			}
			fa := pcache.MustWrap(a, "bench/fresh", fn)
			for n := range keys {
				if _, err := fa.Call(ctx, n); err != nil {
					b.Fatal(err)
				}
			}
			if err := a.Close(); err != nil {
				b.Fatal(err)
			}
			faulty := remotetest.NewFaulty(fb)
			faulty.Latency.Store(int64(20 * time.Millisecond))
			b.ResetTimer()
			for range b.N {
				s, err := pcache.Open(b.TempDir(), pcache.RemoteBackend(faulty))
				if err != nil {
					b.Fatal(err)
				}
				f := pcache.MustWrap(s, "bench/fresh", fn)
				before := faulty.Total()
				for n := range keys {
					if v, err := f.Call(pcache.ErrorOnMiss(ctx), n); err != nil || !bytes.Equal(v, value(n)) {
						b.Fatalf("call %d: %v", n, err)
					}
				}
				b.ReportMetric(float64(faulty.Total()-before)/keys, "requests/hit")
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/200-hits")
		})
	}
}
