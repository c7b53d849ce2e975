package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/smithy-go"

	"github.com/pcache/pcache/internal/remote"
)

// classify maps S3's answers to package remote's errors: a missing key, a
// key taken (create-only), a missing bucket, refused credentials (naming
// the access key id, never the secret) and an object too large. Anything
// else keeps the SDK's error. A HEAD's answer has no body, so a HEAD in a
// bucket that does not exist reads as a missing key; the GETs, PUTs and
// listings around it name the bucket.
func (b *backend) classify(ctx context.Context, op, key string, err error) error {
	code, status := "", 0
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch code {
	case "NoSuchBucket":
		return fmt.Errorf("%w: s3://%s (%s): create it, or name another bucket", remote.ErrNoBucket, b.bucket, b.what(op, key))
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%w: %s (%s)", remote.ErrNotExist, key, code)
	case "PreconditionFailed", "ConditionalRequestConflict":
		return fmt.Errorf("%w: %s", remote.ErrExists, key)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
		"XAdminUserNotFound": // versitygw's answer (404) for an unknown access key
		return b.denied(ctx, op, key, err)
	case "EntityTooLarge":
		return fmt.Errorf("%w: %s: %w", remote.ErrTooLarge, b.what(op, key), err)
	}
	switch status {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", remote.ErrNotExist, key)
	case http.StatusPreconditionFailed, http.StatusConflict:
		return fmt.Errorf("%w: %s", remote.ErrExists, key)
	case http.StatusForbidden:
		return b.denied(ctx, op, key, err)
	case http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%w: %s: %w", remote.ErrTooLarge, b.what(op, key), err)
	}
	return fmt.Errorf("remote: s3 %s %s: %w", op, key, err)
}

// denied is the error of a request the server refused for the
// credentials: it names the access key id they hold and where it came
// from, so the user can tell which key to fix; the secret is never read
// into a message.
func (b *backend) denied(ctx context.Context, op, key string, err error) error {
	return fmt.Errorf("%w: %s with %s: %w", remote.ErrDenied, b.what(op, key), b.accessKey(ctx), err)
}

// what names a request in messages: "get s3://BUCKET/PREFIX/KEY".
func (b *backend) what(op, key string) string {
	return op + " s3://" + b.bucket + "/" + b.key(key)
}

// accessKey describes the credentials the client signs with: their access
// key id and source. They are cached by the SDK once a request was signed,
// so this makes no request (a bounded one if they expired meanwhile).
func (b *backend) accessKey(ctx context.Context) string {
	if b.creds == nil {
		return "no credentials (anonymous requests)"
	}
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	v, err := b.creds.Retrieve(c)
	if err != nil || v.AccessKeyID == "" {
		return "credentials that could not be read back"
	}
	if v.Source == "" {
		return fmt.Sprintf("access key id %s", v.AccessKeyID)
	}
	return fmt.Sprintf("access key id %s (from %s)", v.AccessKeyID, v.Source)
}
