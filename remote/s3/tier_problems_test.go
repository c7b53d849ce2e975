package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/remotetest"
	"github.com/pcache/pcache/remote"
)

// The tier's handling of what a real S3 server answers when the bucket or
// the credentials are wrong: said once, the remote left alone, Close
// naming what it left. (The same, against a fake backend, is in the root
// package's remote tests, which do not link this package.)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func logTo(buf *syncBuffer) pcache.StoreOption {
	return pcache.WithLogger(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
}

// countLines counts the lines of the log that contain every one of subs.
func countLines(log string, subs ...string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		all := line != ""
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

// computeShort calls function name of s over keys [from, to).
func computeShort(t *testing.T, s *pcache.Store, name string, from, to int) {
	t.Helper()
	f := pcache.MustWrap(s, name, func(_ context.Context, k int) (string, error) { return fmt.Sprint("value of ", k), nil })
	for k := from; k < to; k++ {
		if got, err := f.Call(context.Background(), k); err != nil || got != fmt.Sprint("value of ", k) {
			t.Fatalf("key %d: %q, %v", k, got, err)
		}
	}
}

// TestRemoteMissingBucketS3 (issue 22, item 3): against a real S3 server,
// a bucket that does not exist is said once, the tier stops asking, and
// Close returns at once naming what it left. (The S3 backend may answer
// "not found" to a put into a missing bucket: a put that finds nothing is
// a missing bucket.)
func TestRemoteMissingBucketS3(t *testing.T) {
	srv := remotetest.Shared(t)
	srv.Env(t)
	b, err := remote.OpenBackend(context.Background(), "s3://pcache-no-such-bucket/p")
	if err != nil {
		t.Fatal(err)
	}
	f := remotetest.NewFaulty(b)
	var logs syncBuffer
	s, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(f), logTo(&logs), pcache.RemoteTimeouts(0, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	computeShort(t, s, "nobucket/s3", 0, 30)
	err = s.Close()
	var ue *remote.UnpublishedError
	if !errors.As(err, &ue) || ue.Entries != 30 {
		t.Fatalf("Close = %v; want the 30 entries left named", err)
	}
	if n := f.Requests()["put"]; n > 4 {
		t.Fatalf("%d puts into a missing bucket (%v); want the tier to stop trying", n, f.Requests())
	}
	if n := countLines(logs.String(), "level=ERROR", "pcache-no-such-bucket"); n != 1 {
		t.Fatalf("the missing bucket was said %d times at error level, want once:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), srv.Secret) {
		t.Fatalf("the secret key is in the log:\n%s", logs.String())
	}
}

// TestRemoteWrongSecretS3 (issue 22, item 3): against a real S3 server,
// credentials it refuses are said once, without the secret, and Close
// returns promptly naming what it left.
func TestRemoteWrongSecretS3(t *testing.T) {
	srv := remotetest.Shared(t)
	srv.Env(t)
	bucket := srv.Bucket(t)
	const secret = "not-the-secret-0123456789"
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	b, err := remote.OpenBackend(context.Background(), "s3://"+bucket+"/p")
	if err != nil {
		t.Fatal(err)
	}
	f := remotetest.NewFaulty(b)
	var logs syncBuffer
	s, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(f), logTo(&logs), pcache.RemoteTimeouts(0, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	computeShort(t, s, "denied/s3", 0, 30)
	err = s.Close()
	var ue *remote.UnpublishedError
	if !errors.As(err, &ue) || ue.Entries != 30 {
		t.Fatalf("Close = %v; want the 30 entries left named", err)
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(err.Error(), secret) {
		t.Fatalf("the secret is in the log or the error:\n%s\n%v", logs.String(), err)
	}
	if n := countLines(logs.String(), "level=WARN") + countLines(logs.String(), "level=ERROR"); n != 1 {
		t.Fatalf("refused credentials said %d times, want once:\n%s", n, logs.String())
	}
	t.Logf("said: %s; requests %v", strings.TrimSpace(logs.String()), f.Requests())
}
