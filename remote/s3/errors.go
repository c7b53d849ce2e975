package s3

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"

	"github.com/pcache/pcache/remote"
)

// classify maps S3's answers to package remote's errors.
func (b *backend) classify(op, key string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return fmt.Errorf("%w: %s (%s)", remote.ErrNotExist, key, ae.ErrorCode())
		case "PreconditionFailed", "ConditionalRequestConflict":
			return fmt.Errorf("%w: %s", remote.ErrExists, key)
		}
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s", remote.ErrNotExist, key)
		case http.StatusPreconditionFailed, http.StatusConflict:
			return fmt.Errorf("%w: %s", remote.ErrExists, key)
		}
	}
	return fmt.Errorf("remote: s3 %s %s: %w", op, key, err)
}
