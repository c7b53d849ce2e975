package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/remote"
	"github.com/pcache/pcache/internal/remotetest"
	"github.com/pcache/pcache/internal/s3server"
	"github.com/pcache/pcache/internal/testutil"
)

// The tier's handling of what a real S3 server answers when the bucket or
// the credentials are wrong: said once, the remote left alone, Close
// naming what it left. (The same, against a fake backend, is in the root
// package's remote tests, which do not link this package.)

// leaveUnpublished computes 30 entries through a store whose remote is b,
// closes it, checks that Close names all 30 as left unpublished, and returns
// what the store logged, the requests b was asked and Close's error.
func leaveUnpublished(t *testing.T, b remote.Backend, name string) (string, *remotetest.Faulty, error) {
	t.Helper()
	f := remotetest.NewFaulty(b)
	var logs testutil.LogBuffer
	s, err := pcache.Open(t.TempDir(), pcache.RemoteBackend(f), pcache.WithLogger(logs.Logger()), pcache.RemoteTimeouts(0, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	fn := pcache.MustWrap(s, name, func(_ context.Context, k int) (string, error) { return fmt.Sprint("value of ", k), nil })
	for k := range 30 {
		if got, err := fn.Call(context.Background(), k); err != nil || got != fmt.Sprint("value of ", k) {
			t.Fatalf("key %d: %q, %v", k, got, err)
		}
	}
	err = s.Close()
	var ue *pcache.UnpublishedError
	if !errors.As(err, &ue) || ue.Entries != 30 {
		t.Fatalf("Close = %v; want the 30 entries left named", err)
	}
	return logs.String(), f, err
}

// TestRemoteMissingBucketS3 (issue 22, item 3): against a real S3 server,
// a bucket that does not exist is said once, the tier stops asking, and
// Close returns at once naming what it left. (The S3 backend may answer
// "not found" to a put into a missing bucket: a put that finds nothing is
// a missing bucket.)
func TestRemoteMissingBucketS3(t *testing.T) {
	srv := s3server.Shared(t)
	srv.Env(t)
	b, err := remote.OpenBackend(context.Background(), "s3://pcache-no-such-bucket/p")
	if err != nil {
		t.Fatal(err)
	}
	logs, f, _ := leaveUnpublished(t, b, "nobucket/s3")
	if n := f.Requests()["put"]; n > 4 {
		t.Fatalf("%d puts into a missing bucket (%v); want the tier to stop trying", n, f.Requests())
	}
	if n := testutil.CountLines(logs, "level=ERROR", "pcache-no-such-bucket"); n != 1 {
		t.Fatalf("the missing bucket was said %d times at error level, want once:\n%s", n, logs)
	}
	if strings.Contains(logs, srv.Secret) {
		t.Fatalf("the secret key is in the log:\n%s", logs)
	}
}

// TestRemoteWrongSecretS3 (issue 22, item 3): against a real S3 server,
// credentials it refuses are said once, without the secret, and Close
// returns promptly naming what it left.
func TestRemoteWrongSecretS3(t *testing.T) {
	srv := s3server.Shared(t)
	srv.Env(t)
	bucket := srv.Bucket(t)
	const secret = "not-the-secret-0123456789"
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	b, err := remote.OpenBackend(context.Background(), "s3://"+bucket+"/p")
	if err != nil {
		t.Fatal(err)
	}
	logs, f, err := leaveUnpublished(t, b, "denied/s3")
	if strings.Contains(logs, secret) || strings.Contains(err.Error(), secret) {
		t.Fatalf("the secret is in the log or the error:\n%s\n%v", logs, err)
	}
	if n := testutil.CountLines(logs, "level=WARN") + testutil.CountLines(logs, "level=ERROR"); n != 1 {
		t.Fatalf("refused credentials said %d times, want once:\n%s", n, logs)
	}
	t.Logf("said: %s; requests %v", strings.TrimSpace(logs), f.Requests())
}
