package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/remote"
	"github.com/pcache/pcache/internal/s3server"
)

// ops makes one request of each kind and returns their errors.
func ops(b remote.Backend) map[string]error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := map[string]error{}
	r, err := b.Get(ctx, "objects/x")
	if err == nil {
		r.Close()
	}
	errs["get"] = err
	_, _, errs["head"] = b.Head(ctx, "objects/x")
	errs["put"] = b.Put(ctx, "objects/y", strings.NewReader("data"), 4, true)
	errs["list"] = b.List(ctx, "objects/", func(string, int64, time.Time) error { return nil })
	errs["delete"] = b.Delete(ctx, "objects/x")
	return errs
}

// TestErrorsFromVersitygw: against a real S3-compatible server, a bucket
// that does not exist is ErrNoBucket (not a missing key, which would make
// every lookup a quiet miss), and a wrong access key or a wrong secret is
// ErrDenied naming the access key id. No error holds the secret.
func TestErrorsFromVersitygw(t *testing.T) {
	srv := s3server.Shared(t)
	bucket := srv.Bucket(t)
	const wrongSecret = "WRONG/secret+value0123456789abcdefghijkl"
	for _, tc := range []struct {
		name, bucket, access, secret string
		want                         error
		ops                          []string // the requests that tell; a HEAD's answer has no body
		says                         string
	}{
		{"no such bucket", "pcache-no-such-bucket", srv.Access, srv.Secret, remote.ErrNoBucket,
			[]string{"get", "put", "list", "delete"}, "s3://pcache-no-such-bucket"},
		// versitygw answers a HEAD with an unknown key 404 with no body:
		// a missing key, as far as the client can tell.
		{"wrong access key", bucket, "pcachenosuchkey", srv.Secret, remote.ErrDenied,
			[]string{"get", "put", "list", "delete"}, "access key id pcachenosuchkey (from EnvConfigCredentials)"},
		{"wrong secret", bucket, srv.Access, wrongSecret, remote.ErrDenied,
			[]string{"get", "head", "put", "list", "delete"}, "access key id " + srv.Access + " (from EnvConfigCredentials)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Env(t)
			t.Setenv("AWS_ACCESS_KEY_ID", tc.access)
			t.Setenv("AWS_SECRET_ACCESS_KEY", tc.secret)
			b, err := remote.OpenBackend(context.Background(), "s3://"+tc.bucket+"/team")
			if err != nil {
				t.Fatal(err)
			}
			errs := ops(b)
			for _, op := range tc.ops {
				err := errs[op]
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
					t.Errorf("%s: %v; want %v saying %q", op, err, tc.want, tc.says)
				}
				if errors.Is(err, remote.ErrNotExist) {
					t.Errorf("%s: %v is also a missing key", op, err)
				}
			}
			for op, err := range errs {
				if err != nil && (strings.Contains(err.Error(), tc.secret) || strings.Contains(err.Error(), srv.Secret)) {
					t.Errorf("%s: the error holds the secret: %v", op, err)
				}
			}
		})
	}
}

// fakeS3 is a server on 127.0.0.1 answering every request with status and
// an S3 error document of code (none if code is "").
func fakeS3(t *testing.T, status int, code string) remote.Backend {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if code != "" {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>as the test says</Message></Error>`, code)
		}
	}))
	t.Cleanup(srv.Close)
	noAWSConfig(t)
	b, err := remote.OpenBackend(context.Background(), "s3://bucket/p?endpoint="+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestErrorClassification: each answer of S3 that package remote has a
// sentinel for is wrapped in it, from the error code or, for a HEAD (no
// body), the status; the others are none of them.
func TestErrorClassification(t *testing.T) {
	sentinels := []error{remote.ErrNotExist, remote.ErrExists, remote.ErrNoBucket, remote.ErrDenied, remote.ErrTooLarge}
	for _, tc := range []struct {
		status int
		code   string
		want   error // nil: none of the sentinels
		head   bool  // HEAD says the same (from the status)
	}{
		{404, "NoSuchKey", remote.ErrNotExist, true},
		{404, "NoSuchBucket", remote.ErrNoBucket, false},
		{412, "PreconditionFailed", remote.ErrExists, false},
		{409, "ConditionalRequestConflict", remote.ErrExists, false},
		{403, "AccessDenied", remote.ErrDenied, true},
		{403, "InvalidAccessKeyId", remote.ErrDenied, true},
		{403, "SignatureDoesNotMatch", remote.ErrDenied, true},
		{404, "XAdminUserNotFound", remote.ErrDenied, false},
		{400, "ExpiredToken", remote.ErrDenied, false},
		{403, "", remote.ErrDenied, true},
		{400, "EntityTooLarge", remote.ErrTooLarge, false},
		{413, "", remote.ErrTooLarge, true},
		{501, "NotImplemented", nil, true},
		{400, "InvalidArgument", nil, true},
	} {
		t.Run(fmt.Sprint(tc.status, tc.code), func(t *testing.T) {
			b := fakeS3(t, tc.status, tc.code)
			errs := ops(b)
			check := []string{"get", "put"}
			if tc.head {
				check = append(check, "head")
			}
			for _, op := range check {
				err := errs[op]
				if err == nil {
					t.Fatalf("%s: no error", op)
				}
				for _, s := range sentinels {
					if errors.Is(err, s) != (s == tc.want) {
						t.Errorf("%s: %v: errors.Is %v = %v", op, err, s, !(s == tc.want))
					}
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "remote: ") || strings.Contains(msg, "secret/TEST+value") {
					t.Errorf("%s: %v", op, err)
				}
				if tc.want == remote.ErrDenied && !strings.Contains(err.Error(), "access key id AKIDTEST") {
					t.Errorf("%s: %v does not name the access key id", op, err)
				}
			}
		})
	}
}
