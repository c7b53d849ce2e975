package s3

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/pcache/pcache/internal/remote"
)

// noAWSConfig keeps the test's AWS settings to what it sets: no config
// files, no instance metadata, no variables of the machine.
func noAWSConfig(t *testing.T) {
	t.Helper()
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret/TEST+value")
}

// TestOpenURL: the query of an s3:// URL sets the region and the endpoint
// (then path-style addressing), and nothing else.
func TestOpenURL(t *testing.T) {
	noAWSConfig(t)
	ctx := context.Background()
	for _, tc := range []struct {
		url, str, region, endpoint string
		pathStyle                  bool
	}{
		{"s3://bucket", "s3://bucket", "us-east-1", "", false},
		{"s3://bucket/team/cache/", "s3://bucket/team/cache", "us-east-1", "", false},
		{"s3://bucket/p?region=eu-west-1", "s3://bucket/p", "eu-west-1", "", false},
		{"s3://bucket/p?endpoint=http://127.0.0.1:9000", "s3://bucket/p?endpoint=http%3A%2F%2F127.0.0.1%3A9000", "us-east-1", "http://127.0.0.1:9000", true},
		{"s3://bucket/p?endpoint=https%3A%2F%2Fminio.lan%2Fs3&region=x-1", "s3://bucket/p?endpoint=https%3A%2F%2Fminio.lan%2Fs3", "x-1", "https://minio.lan/s3", true},
	} {
		be, err := remote.OpenBackend(ctx, tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		b := be.(*backend)
		o := b.client.Options()
		if b.String() != tc.str || o.Region != tc.region || aws.ToString(o.BaseEndpoint) != tc.endpoint || o.UsePathStyle != tc.pathStyle {
			t.Errorf("%s: %s, region %q, endpoint %q, path style %v; want %s, %q, %q, %v", tc.url,
				b.String(), o.Region, aws.ToString(o.BaseEndpoint), o.UsePathStyle, tc.str, tc.region, tc.endpoint, tc.pathStyle)
		}
	}

	// AWS_ENDPOINT_URL: path style too; the URL's endpoint wins over it.
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	for url, want := range map[string]string{"s3://bucket/p": "http://127.0.0.1:1", "s3://bucket/p?endpoint=http://127.0.0.1:2": "http://127.0.0.1:2"} {
		be, err := remote.OpenBackend(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if o := be.(*backend).client.Options(); aws.ToString(o.BaseEndpoint) != want || !o.UsePathStyle {
			t.Errorf("%s with $AWS_ENDPOINT_URL: endpoint %q, path style %v; want %s", url, aws.ToString(o.BaseEndpoint), o.UsePathStyle, want)
		}
	}
}

// TestOpenURLRefuses: a parameter other than region and endpoint, one
// given twice or empty, an endpoint that is not a server's URL and a
// bucket with a port are refused, each with one clear error that repeats
// no credentials.
func TestOpenURLRefuses(t *testing.T) {
	noAWSConfig(t)
	for _, tc := range []struct{ url, want string }{
		{"s3://bucket/p?acl=private", `unknown query parameter "acl"`},
		{"s3://bucket/p?Region=x", `unknown query parameter "Region"`},
		{"s3://bucket/p?secret=KEYSECRET", `unknown query parameter "secret"`},
		{"s3://bucket/p?region=", "without a value"},
		{"s3://bucket/p?AKIDKEY:KEYSECRET", "without a value"},
		{"s3://bucket/p?region=a&region=b", `"region" given 2 times`},
		{"s3://bucket/p?region=a;b", "bad query"},
		{"s3://bucket/p?%zz", "bad query"},
		{"s3://bucket/p?endpoint=ftp://host", "endpoint: want http"},
		{"s3://bucket/p?endpoint=http://", "endpoint: want http"},
		{"s3://bucket/p?endpoint=minio.lan:9000", "endpoint: want http"},
		{"s3://bucket/p?endpoint=http%3A%2F%2Fh%2Fx%3Fy%3D1", "no query or fragment"},
		{"s3://bucket/p?endpoint=http://AKIDKEY:KEYSECRET@host", "endpoint: credentials do not go in the URL"},
		{"s3://bucket/p?endpoint=http%3A%2F%2FAKIDKEY%3AKEYSECRET%40host", "endpoint: credentials do not go in the URL"},
		{"s3://bucket:9000/p", "no port"},
		{"s3:///p", "no bucket"},
	} {
		_, err := remote.OpenBackend(context.Background(), tc.url)
		if err == nil {
			t.Errorf("%s: accepted", tc.url)
			continue
		}
		s := err.Error()
		if !strings.Contains(s, tc.want) || !strings.HasPrefix(s, "remote: ") || strings.Count(s, "remote:") != 1 {
			t.Errorf("%s: %v; want one remote: error saying %s", tc.url, err, tc.want)
		}
		if strings.Contains(s, "KEYSECRET") || strings.Contains(s, "AKIDKEY") {
			t.Errorf("%s: the error repeats the credentials: %v", tc.url, err)
		}
	}
}
