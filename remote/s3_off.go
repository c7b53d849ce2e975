//go:build pcache_nos3

package remote

import (
	"context"
	"fmt"
)

// newS3 is what a program built with -tags pcache_nos3 has instead of the
// S3 backend: the AWS SDK is not linked (a binary some 18 MB smaller), and
// an s3:// remote is refused at Open with this error.
func newS3(_ context.Context, bucket, _ string) (Backend, error) {
	return nil, fmt.Errorf("remote: s3://%s: this program was built with -tags pcache_nos3, without the S3 backend", bucket)
}
