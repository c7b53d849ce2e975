package pcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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

// The tests of issue 22: publishing to a remote that refuses, is missing,
// is slow, or was gc'd under a stale machine.

// fileRemote returns a fresh file remote and its directory.
func fileRemote(t *testing.T) (remote.Backend, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := remote.NewFileBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b, dir
}

// logTo returns a logger writing text records to buf.
func logTo(buf *syncBuffer) pcache.StoreOption { return pcache.WithLogger(buf.Logger()) }

// countLines counts the lines of the log that contain every one of subs.
var countLines = testutil.CountLines

// servedFrom counts the keys 0..n-1 of function name a fresh cache is
// served from the remote b (ErrorOnMiss: nothing is computed).
func servedFrom(t *testing.T, b remote.Backend, name string, n int) int {
	t.Helper()
	s := openStore(t, t.TempDir(), pcache.RemoteBackend(b))
	f := pcache.MustWrap(s, name, func(_ context.Context, k int) (string, error) { return "", fmt.Errorf("computed %d", k) })
	got := 0
	for k := range n {
		if v, err := f.Call(pcache.ErrorOnMiss(context.Background()), k); err == nil && v == shortValue(k) {
			got++
		}
	}
	return got
}

func shortValue(k int) string { return fmt.Sprintf("value of %d", k) }

// computeShort computes keys from..to-1 of function name in s.
func computeShort(t *testing.T, s *pcache.Store, name string, from, to int) {
	t.Helper()
	f := pcache.MustWrap(s, name, func(_ context.Context, k int) (string, error) { return shortValue(k), nil })
	for k := from; k < to; k++ {
		if got := mustCall(t, f, context.Background(), k); got != shortValue(k) {
			t.Fatalf("key %d: %q", k, got)
		}
	}
}

// publishEach computes keys from..to-1 of function name in s, flushing
// after each: one log entry a key.
func publishEach(t *testing.T, s *pcache.Store, name string, from, to int) {
	t.Helper()
	for k := from; k < to; k++ {
		computeShort(t, s, name, k, k+1)
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// gcRemovingLog runs a remote gc after (from now), and again at twice
// that if the first removed no log entry: the first writes a checkpoint,
// and the log it covers goes once that is older than the grace period. It
// fails the test if no log entry was removed.
func gcRemovingLog(t *testing.T, b remote.Backend, after time.Duration) {
	t.Helper()
	ctx := context.Background()
	rep, err := remote.GC(ctx, b, remote.GCOptions{Grace: time.Nanosecond, Now: time.Now().Add(after)})
	if err == nil && rep.DeletedLog == 0 {
		rep, err = remote.GC(ctx, b, remote.GCOptions{Grace: time.Nanosecond, Now: time.Now().Add(2 * after)})
	}
	if err != nil || rep.DeletedLog == 0 {
		t.Fatalf("gc removed no log entry: %+v, %v", rep, err)
	}
}

// refuseFirstObjects makes f refuse, with err, every put of the first n
// distinct object keys it is asked to store.
func refuseFirstObjects(f *remotetest.Faulty, n int, err func(key string) error) {
	var mu sync.Mutex
	refused := map[string]bool{}
	f.Refuse = func(op, key string) error {
		if op != "put" || !strings.HasPrefix(key, "objects/") {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if !refused[key] && len(refused) < n {
			refused[key] = true
		}
		if refused[key] {
			return err(key)
		}
		return nil
	}
}

// TestRemoteRefusedObjectDoesNotBlockPublishing (issue 22, item 2): a put
// the server refuses for good — too large, access denied for that key, a
// 400 — drops that entry alone, counted and said once per kind, while
// every later entry is published; Close reports nothing left.
func TestRemoteRefusedObjectDoesNotBlockPublishing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  func(key string) error
	}{
		{"too large", func(key string) error { return fmt.Errorf("put %s: EntityTooLarge: %w", key, remote.ErrTooLarge) }},
		{"denied for the key", func(key string) error {
			return fmt.Errorf("put %s: AccessDenied (access key AKIDEXAMPLE): %w", key, remote.ErrDenied)
		}},
		{"400", func(key string) error { return &remotetest.HTTPError{Status: 400, Op: "put", Key: key} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := fileRemote(t)
			f := remotetest.NewFaulty(b)
			refuseFirstObjects(f, 2, tc.err)
			var logs syncBuffer
			s, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(f), logTo(&logs))
			if err != nil {
				t.Fatal(err)
			}
			computeShort(t, s, "refused/one", 0, 52)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v (nothing is left: the refused entries were dropped)", err)
			}
			st := s.Stats()
			if st.UploadsDropped != 2 || st.Uploads != 50 {
				t.Fatalf("stats %+v: want 2 entries dropped and the 50 others published", st)
			}
			if got := servedFrom(t, b, "refused/one", 52); got != 50 {
				t.Fatalf("a fresh cache was served %d of the 50 published entries", got)
			}
			if n := countLines(logs.String(), "level=WARN", "refuses to store"); n != 1 {
				t.Fatalf("the refusal was said %d times, want once:\n%s", n, logs.String())
			}
			if strings.Contains(logs.String(), "SECRET") {
				t.Fatal("a secret in the log")
			}
		})
	}
}

// TestRemoteMissingBucket (issue 22, item 3): a bucket that does not
// exist is said once at error level, naming it; the tier stops asking for
// a while (a few requests, not one every 100 ms), calls go on locally,
// Stats counts the failed requests apart from those held back, and Close
// returns at once, naming the entries it could not publish.
func TestRemoteMissingBucket(t *testing.T) {
	t.Parallel()
	b, _ := fileRemote(t)
	f := remotetest.NewFaulty(b)
	f.Refuse = func(op, key string) error {
		return fmt.Errorf("%s %s: NoSuchBucket: s3://team-cache: %w", op, key, remote.ErrNoBucket)
	}
	var logs syncBuffer
	s, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(f), logTo(&logs), pcache.RemoteTimeouts(0, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	computeShort(t, s, "nobucket/f", 0, 40)
	start := time.Now()
	err = s.Close()
	t.Logf("Close took %v: %v", time.Since(start), err)
	var ue *pcache.UnpublishedError
	if !errors.As(err, &ue) || ue.Entries != 40 || !strings.Contains(err.Error(), "bucket does not exist") {
		t.Fatalf("Close = %v; want the 40 entries left named, and why", err)
	}
	st := s.Stats()
	if st.RemoteErrors == 0 || st.RemoteSkipped == 0 {
		t.Fatalf("stats %+v: want the failed requests and the ones held back counted apart", st)
	}
	// Open's lookups and the publisher's first try each met the missing
	// bucket, then the breaker held every request back; Close tries once.
	if n := f.Total(); n > 8 {
		t.Fatalf("%d requests to a missing bucket (%v); want a few", n, f.Requests())
	}
	if n := countLines(logs.String(), "level=ERROR", "bucket does not exist"); n != 1 {
		t.Fatalf("the missing bucket was said %d times at error level, want once:\n%s", n, logs.String())
	}
	if n := countLines(logs.String(), "level=WARN"); n != 0 {
		t.Fatalf("other warnings besides the missing bucket:\n%s", logs.String())
	}
}

// TestRemoteCredentialsRefused (issue 22, item 3): credentials refused for
// everything are said once, the tier stops asking for a while, and
// Close returns promptly naming what it left.
func TestRemoteCredentialsRefused(t *testing.T) {
	t.Parallel()
	b, _ := fileRemote(t)
	f := remotetest.NewFaulty(b)
	f.Refuse = func(op, key string) error {
		return fmt.Errorf("%s %s: InvalidAccessKeyId (access key AKIDEXAMPLE): %w", op, key, remote.ErrDenied)
	}
	var logs syncBuffer
	s, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(f), logTo(&logs))
	if err != nil {
		t.Fatal(err)
	}
	computeShort(t, s, "denied/f", 0, 20)
	err = s.Close()
	var ue *pcache.UnpublishedError
	if !errors.As(err, &ue) || ue.Entries != 20 {
		t.Fatalf("Close = %v; want the 20 entries left named", err)
	}
	if n := countLines(logs.String(), "level=ERROR", "refuses these credentials"); n != 1 {
		t.Fatalf("refused credentials said %d times, want once:\n%s", n, logs.String())
	}
	if n := f.Total(); n > 8 {
		t.Fatalf("%d requests with refused credentials (%v); want a few", n, f.Requests())
	}
}

// TestRemoteReadOnlyCredentials (issue 22, item 3): credentials that read
// but cannot write make the tier read-only, said once: the remote's
// entries are served, nothing is published, and Close has nothing to
// report (it was said).
func TestRemoteReadOnlyCredentials(t *testing.T) {
	t.Parallel()
	b, _ := fileRemote(t)
	a := openStore(t, t.TempDir(), pcache.RemoteBackend(b))
	computeShort(t, a, "rocreds/f", 0, 10)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	f := remotetest.NewFaulty(b)
	f.Refuse = func(op, key string) error {
		if op == "put" || op == "delete" {
			return fmt.Errorf("%s %s: AccessDenied (access key AKIDREADONLY): %w", op, key, remote.ErrDenied)
		}
		return nil
	}
	var logs syncBuffer
	s, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(f), logTo(&logs))
	if err != nil {
		t.Fatal(err)
	}
	computeShort(t, s, "rocreds/f", 0, 30) // 10 served by the remote, 20 computed
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v; the tier turned read-only and said so", err)
	}
	st := s.Stats()
	if st.RemoteHits != 10 || st.Uploads != 0 {
		t.Fatalf("stats %+v: want the 10 remote entries served, nothing published", st)
	}
	if n := countLines(logs.String(), "level=WARN", "takes no writes"); n != 1 {
		t.Fatalf("read-only credentials said %d times, want once:\n%s", n, logs.String())
	}
	if n := f.Requests()["put"]; n > 3 {
		t.Fatalf("%d puts with read-only credentials; want the tier to stop trying", n)
	}
}

// TestRemoteUnreachableSaidOnce (issue 22, item 3): a remote that cannot
// be reached is said once, however many calls meet it.
func TestRemoteUnreachableSaidOnce(t *testing.T) {
	t.Parallel()
	b, _ := fileRemote(t)
	f := remotetest.NewFaulty(b)
	f.Down.Store(true)
	var logs syncBuffer
	s, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(f), logTo(&logs), pcache.RemoteRefresh(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	for fn := range 5 {
		computeShort(t, s, fmt.Sprintf("down/f%d", fn), 0, 20)
	}
	err = s.Close()
	if !errors.As(err, new(*pcache.UnpublishedError)) {
		t.Fatalf("Close = %v; want the entries left named", err)
	}
	if n := countLines(logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d warnings for one unreachable remote, want one:\n%s", n, logs.String())
	}
	if st := s.Stats(); st.RemoteErrors == 0 || st.RemoteErrors > 20 {
		t.Fatalf("stats %+v: want the failed requests counted, the ones held back apart", st)
	}
}

// TestRemoteShortJobPublishesEverything (issue 22, item 5): a process that
// computed 1,000 small entries against a remote 50 ms away closes, with
// the default flush deadline, having published all of them; on a shared
// directory and on a real S3 server. (The time Close takes is logged;
// BENCHMARKS.md records it.) Close waits for the uploads (16 at once, each
// 50 ms), not for a timer: -short computes 700 entries, still more than
// twice what a second of uploads gets through (320), so that a chunk of
// the backlog is cut at a second of uploads, as with 1,000.
func TestRemoteShortJobPublishesEverything(t *testing.T) {
	t.Parallel()
	n := 1000
	if testing.Short() {
		n = 700
	}
	for _, kind := range remoteKinds {
		t.Run(kind, func(t *testing.T) {
			b, err := remote.OpenBackend(context.Background(), remoteURL(t, kind))
			if err != nil {
				t.Fatal(err)
			}
			f := remotetest.NewFaulty(b)
			f.Latency.Store(int64(50 * time.Millisecond))
			s, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(f))
			if err != nil {
				t.Fatal(err)
			}
			computeShort(t, s, "short/job", 0, n)
			start := time.Now()
			err = s.Close()
			t.Logf("Close of %d entries at 50 ms a request: %v (requests %v)", n, time.Since(start), f.Requests())
			if err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); st.Uploads != int64(n) {
				t.Fatalf("published %d of %d entries: %+v", st.Uploads, n, st)
			}
			if got := servedFrom(t, b, "short/job", n); got != n {
				t.Fatalf("a fresh cache was served %d of %d entries", got, n)
			}
		})
	}
}

// TestRemoteFlushLeftIsAnError (issue 22, item 5): a flush that cannot
// finish within $PCACHE_REMOTE_FLUSH makes Close return an error naming
// how many entries are still queued; the next Open publishes them. A bad
// $PCACHE_REMOTE_FLUSH costs the remote, said at error level.
func TestRemoteFlushLeftIsAnError(t *testing.T) {
	b, _ := fileRemote(t)
	f := remotetest.NewFaulty(b)
	f.Only = "/log/"
	f.HangOp = "put"
	f.Hang.Store(true) // log entries never go up
	t.Setenv("PCACHE_REMOTE_FLUSH", "300ms")
	dir := t.TempDir()
	s, err := pcache.Open(dir, pcache.RemoteBackend(f), pcache.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	computeShort(t, s, "flush/f", 0, 25)
	err = s.Close()
	var ue *pcache.UnpublishedError
	if !errors.As(err, &ue) || ue.Entries != 25 || !strings.Contains(err.Error(), "25 entries") || !strings.Contains(err.Error(), "PCACHE_REMOTE_FLUSH") {
		t.Fatalf("Close = %v; want the 25 entries still queued named", err)
	}
	// The next Open of the cache publishes them.
	s2 := openStore(t, dir, pcache.RemoteBackend(b))
	if err := s2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := servedFrom(t, b, "flush/f", 25); got != 25 {
		rep, _ := remote.Inspect(context.Background(), b, remote.InspectOptions{})
		t.Fatalf("after the next Open, %d of 25 served; s1 %+v s2 %+v; remote %+v", got, s.Stats(), s2.Stats(), rep)
	}

	t.Setenv("PCACHE_REMOTE", "file://"+t.TempDir())
	t.Setenv("PCACHE_REMOTE_FLUSH", "soon")
	var logs syncBuffer
	c, err := pcache.Open(t.TempDir(), logTo(&logs))
	if err != nil {
		t.Fatalf("a bad %s failed Open: %v", "PCACHE_REMOTE_FLUSH", err)
	}
	c.Close()
	if countLines(logs.String(), "level=ERROR", "PCACHE_REMOTE_FLUSH") != 1 {
		t.Fatalf("a bad %s was not said at error level:\n%s", "PCACHE_REMOTE_FLUSH", logs.String())
	}
}

// TestRemoteCloseNeverSpins (issue 22, item 2): a remote whose HEADs
// answer 404 and whose PUTs all fail is asked a bounded number of times
// while Close waits: a 404 is an answer, not progress that would keep
// the publishing loop going at full speed.
func TestRemoteCloseNeverSpins(t *testing.T) {
	t.Parallel()
	b, _ := fileRemote(t)
	f := remotetest.NewFaulty(b)
	s, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(f), pcache.WithLogger(quiet()), pcache.RemoteTimeouts(0, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != nil { // the create-only probe is done
		t.Fatal(err)
	}
	f.Refuse = func(op, key string) error {
		if op == "put" {
			return &remotetest.HTTPError{Status: 503, Op: op, Key: key}
		}
		return nil
	}
	big := pcache.MustWrap(s, "spin/big", func(_ context.Context, k int) ([]byte, error) {
		return []byte(strings.Repeat(fmt.Sprint(k), 300<<10)), nil // asked about (HEAD) before it is sent
	})
	for k := range 5 {
		if _, err := big.Call(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	err = s.Close()
	if !errors.As(err, new(*pcache.UnpublishedError)) {
		t.Fatalf("Close = %v; want the entries left named", err)
	}
	if n := f.Total(); n > 60 {
		t.Fatalf("%d requests (%v) against a remote whose every put fails; want a bounded few", n, f.Requests())
	}
}

// TestRemoteReadOnlyModePublishesNothing (issue 22): PCACHE_MODE=readonly
// reads the remote and writes nothing to it (not even the create-only
// probe); a call under WithMode(ModeReadOnly) publishes no use record.
func TestRemoteReadOnlyModePublishesNothing(t *testing.T) {
	b, _ := fileRemote(t)
	a := openStore(t, t.TempDir(), pcache.RemoteBackend(b))
	computeShort(t, a, "romode/f", 0, 10)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var writes []string
	f := remotetest.NewFaulty(b)
	f.OnRequest = func(op, key string) {
		if op == "put" || op == "delete" {
			mu.Lock()
			writes = append(writes, op+" "+key)
			mu.Unlock()
		}
	}
	t.Setenv("PCACHE_MODE", "readonly")
	s, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(f))
	if err != nil {
		t.Fatal(err)
	}
	computeShort(t, s, "romode/f", 0, 20) // all computed: fetching a remote hit would write the local cache
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.RemoteHits != 0 || st.Uploads != 0 || st.Stores != 0 || st.Computes != 20 {
		t.Fatalf("stats %+v", st)
	}
	mu.Lock()
	if len(writes) != 0 {
		t.Fatalf("PCACHE_MODE=readonly wrote to the remote: %q", writes)
	}
	writes = nil
	mu.Unlock()

	// The mode of one call: the Store publishes, the read-only call
	// neither fetches nor records a use.
	t.Setenv("PCACHE_MODE", "")
	s2 := openStore(t, t.TempDir(), pcache.RemoteBackend(f))
	var computed atomic.Int64
	g := pcache.MustWrap(s2, "romode/f", func(_ context.Context, k int) (string, error) {
		computed.Add(1)
		return fmt.Sprint(k), nil
	})
	for k := range 10 {
		if _, err := g.Call(pcache.WithMode(context.Background(), pcache.ModeReadOnly), k); err != nil {
			t.Fatal(err)
		}
	}
	if n := computed.Load(); n != 10 {
		t.Fatalf("read-only calls computed %d of 10 (a remote hit would have written the local cache)", n)
	}
	if err := s2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, w := range writes {
		if strings.Contains(w, "fn/") {
			t.Fatalf("a read-only call published %q", w)
		}
	}
}

// TestRemoteCorruptObjectIsReplaced (issue 22, item 7): an object damaged
// on the remote is replaced by the next upload of it: the machine that
// found it damaged computes the entry and, publishing it, replaces the
// object instead of taking the damaged copy for there; a third machine is
// then served. (The results are larger than remote.MaxInline: smaller
// ones travel in the index and need no object.)
func TestRemoteCorruptObjectIsReplaced(t *testing.T) {
	t.Parallel()
	b, dir := fileRemote(t)
	value := func(k int) string { return strings.Repeat(shortValue(k), remote.MaxInline/8) }
	run := func(s *pcache.Store, ctx context.Context) (served int) {
		f := pcache.MustWrap(s, "corrupt/f", func(_ context.Context, k int) (string, error) { return value(k), nil })
		for k := range 5 {
			if v, err := f.Call(ctx, k); err == nil && v == value(k) {
				served++
			}
		}
		return served
	}
	a := openStore(t, t.TempDir(), pcache.RemoteBackend(b))
	run(a, context.Background())
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	objs, _ := filepath.Glob(filepath.Join(dir, "objects", "*"))
	if len(objs) != 5 {
		t.Fatalf("%d objects on the remote, want 5", len(objs))
	}
	for _, o := range objs {
		data, err := os.ReadFile(o)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x20
		if err := os.WriteFile(o, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := openStore(t, t.TempDir(), pcache.RemoteBackend(b), pcache.WithLogger(quiet()))
	if got := run(s, context.Background()); got != 5 { // every remote copy is damaged: computed
		t.Fatalf("%d of 5 calls returned the computed value", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.RemoteHits != 0 || st.Computes != 5 {
		t.Fatalf("stats %+v: want the 5 damaged entries computed", st)
	}
	third := openStore(t, t.TempDir(), pcache.RemoteBackend(b))
	if got := run(third, pcache.ErrorOnMiss(context.Background())); got != 5 {
		t.Fatalf("after the recomputed entries were published, a fresh cache was served %d of 5", got)
	}
}

// TestRemoteStaleMirrorPublishesPastGC (issue 22, item 6): a machine whose
// mirror of a function predates a remote gc (which removed the log up to
// its checkpoint) publishes past the head, not into the removed range:
// a fresh reader sees its entries.
func TestRemoteStaleMirrorPublishesPastGC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _ := fileRemote(t)
	a := openStore(t, t.TempDir(), pcache.RemoteBackend(b))
	computeShort(t, a, "stale/f", 0, 3)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Machine B reads the function's index (its mirror is now at the
	// log's end) and goes away.
	dirB := t.TempDir()
	sb := openStore(t, dirB, pcache.RemoteBackend(b))
	computeShort(t, sb, "stale/f", 0, 3)
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	// A publishes more, one log entry at a time; then a gc, a day later,
	// compacts the log and removes it.
	publishEach(t, a, "stale/f", 3, 10)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	gcRemovingLog(t, b, 48*time.Hour)
	// B comes back with its old mirror and computes new keys.
	sb = openStore(t, dirB, pcache.RemoteBackend(b))
	computeShort(t, sb, "stale/f", 100, 105)
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	c := openStore(t, t.TempDir(), pcache.RemoteBackend(b))
	f := pcache.MustWrap(c, "stale/f", func(_ context.Context, k int) (string, error) { return "", fmt.Errorf("computed %d", k) })
	for _, k := range []int{0, 9, 100, 104} {
		if v, err := f.Call(pcache.ErrorOnMiss(ctx), k); err != nil || v != shortValue(k) {
			t.Fatalf("key %d after a gc and a stale machine's publishing: %q, %v", k, v, err)
		}
	}
}

// TestRemoteUploadsCountEntries (issue 22, item 3): Stats.Uploads counts
// the entries a Store published, not the records of uses its remote hits
// send (which do reach the remote).
func TestRemoteUploadsCountEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _ := fileRemote(t)
	a := openStore(t, t.TempDir(), pcache.RemoteBackend(b))
	computeShort(t, a, "uploads/f", 0, 10)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Uploads != 10 || st.Stores != 10 {
		t.Fatalf("the writer: %+v", st)
	}
	before, err := remote.Inspect(ctx, b, remote.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A reader a day later (a use within the day is not published again).
	later := func() time.Time { return time.Now().Add(25 * time.Hour) }
	r := openStore(t, t.TempDir(), pcache.RemoteBackend(b), pcache.WithClock(later))
	computeShort(t, r, "uploads/f", 0, 10) // 10 remote hits, each recording a use
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.RemoteHits != 10 || st.Uploads != 0 {
		t.Fatalf("the reader: %+v; want 10 remote hits and no entry published", st)
	}
	after, err := remote.Inspect(ctx, b, remote.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Functions[0].Log <= before.Functions[0].Log {
		t.Fatal("the reader's use records did not reach the remote")
	}
}

// TestRemoteDamagedHeadAfterGC: after a remote gc removed the log that a
// checkpoint covers, a new machine whose read of the head comes back
// damaged (a bit flipped anywhere in it) still finds the newest checkpoint
// and is served, and counts the damage. It used to take the head for
// absent (or follow its flipped number to a checkpoint that is not there),
// read the removed log from its start, and serve nothing, counting
// nothing.
func TestRemoteDamagedHeadAfterGC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _ := fileRemote(t)
	a := openStore(t, t.TempDir(), pcache.RemoteBackend(b))
	publishEach(t, a, "head/f", 0, 10)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	gcRemovingLog(t, b, 48*time.Hour)
	for at := int64(1); at < 64; at += 8 { // the head is a few bytes: each of them, somewhere
		t.Run(fmt.Sprintf("flip at %d of 64", at), func(t *testing.T) {
			f := remotetest.NewFaulty(b)
			f.Only = "/head"
			f.FlipGets.Store(true)
			f.FlipAt.Store(at)
			c := openStore(t, t.TempDir(), pcache.RemoteBackend(f), pcache.WithLogger(quiet()))
			g := pcache.MustWrap(c, "head/f", func(_ context.Context, k int) (string, error) { return "", fmt.Errorf("computed %d", k) })
			for k := range 10 {
				if v, err := g.Call(pcache.ErrorOnMiss(ctx), k); err != nil || v != shortValue(k) {
					t.Fatalf("key %d: %q, %v", k, v, err)
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if st := c.Stats(); st.RemoteErrors == 0 || st.RemoteErrors > 4 {
				t.Fatalf("remote errors %d, want the damaged head counted, a few times at most: %+v", st.RemoteErrors, st)
			}
		})
	}
}

// TestRemoteCheckpointReplacedUnderReader: a reader that read the head
// just before a remote gc moved it on finds the checkpoint it names gone;
// it reads the newest one instead, is served, and counts no error (the
// remote did nothing wrong). Before, it served nothing.
func TestRemoteCheckpointReplacedUnderReader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _ := fileRemote(t)
	publish := func(from, to int) {
		t.Helper()
		a := openStore(t, t.TempDir(), pcache.RemoteBackend(b))
		publishEach(t, a, "moved/f", from, to)
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
	keys := func(suffix string) (out []string) {
		t.Helper()
		if err := b.List(ctx, "fn/", func(key string, _ int64, _ time.Time) error {
			if strings.Contains(key, suffix) {
				out = append(out, key)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	read := func(key string) []byte {
		t.Helper()
		r, err := b.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	publish(0, 10)
	gcRemovingLog(t, b, 48*time.Hour) // a checkpoint of the first 10 entries, and the log behind it removed
	heads := keys("/head")
	if len(heads) != 1 {
		t.Fatalf("heads: %v", heads)
	}
	oldHead, oldCPs := read(heads[0]), keys("/checkpoint/")
	publish(10, 20)
	gcRemovingLog(t, b, 6*24*time.Hour) // a newer checkpoint; the head names it
	// The reader read the head before the gc moved it, and the checkpoint
	// it names is gone by the time it reads it.
	for _, k := range oldCPs {
		if err := b.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if len(keys("/checkpoint/")) == 0 {
		t.Fatal("no checkpoint left: the test proves nothing")
	}
	if err := b.Put(ctx, heads[0], bytes.NewReader(oldHead), int64(len(oldHead)), false); err != nil {
		t.Fatal(err)
	}
	c := openStore(t, t.TempDir(), pcache.RemoteBackend(b), pcache.WithLogger(quiet()))
	g := pcache.MustWrap(c, "moved/f", func(_ context.Context, k int) (string, error) { return "", fmt.Errorf("computed %d", k) })
	for k := range 20 {
		if v, err := g.Call(pcache.ErrorOnMiss(ctx), k); err != nil || v != shortValue(k) {
			t.Fatalf("key %d: %q, %v", k, v, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.RemoteErrors != 0 {
		t.Fatalf("remote errors %d, want none: the remote did nothing wrong (%+v)", st.RemoteErrors, st)
	}
}
