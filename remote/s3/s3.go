// Package s3 is pcache's S3 backend: a program that imports it (import _
// "github.com/pcache/pcache/remote/s3") can use s3://BUCKET/PREFIX remotes.
//
// Like a database/sql driver, the package registers itself with package
// remote when it is imported; without it a program is spared the AWS SDK
// (megabytes of binary and of build time), and an s3:// remote is refused
// with an error naming the import to add. pcache-fsck always includes it.
//
// The endpoint, region and credentials come from the standard AWS chain
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,
// AWS_PROFILE, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_S3, shared config
// files, instance roles). With a custom endpoint (an S3-compatible server),
// requests use path-style addressing and the region defaults to us-east-1.
package s3

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pcache/pcache/remote"
)

func init() { remote.Register("s3", open) }

// backend keeps blobs as objects of one bucket under a prefix.
type backend struct {
	client         *awss3.Client
	bucket, prefix string
}

// open makes the backend of an s3://BUCKET[/PREFIX] URL. Checksums are
// sent and checked only where S3 requires them, which S3-compatible
// servers need.
func open(ctx context.Context, u *url.URL) (remote.Backend, error) {
	shown := remote.RedactURL(u.String())
	if u.Host == "" {
		return nil, fmt.Errorf("remote: %q: no bucket (want s3://BUCKET/PREFIX)", shown)
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryMaxAttempts(2),
	)
	if err != nil {
		return nil, fmt.Errorf("remote: %q: AWS configuration: %w", shown, err)
	}
	custom := cfg.BaseEndpoint != nil || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		o.UsePathStyle = custom
	})
	return &backend{client: client, bucket: u.Host, prefix: strings.Trim(u.Path, "/")}, nil
}

// String is the backend's URL: the bucket and the prefix. It holds no
// credentials: OpenBackend refuses them.
func (b *backend) String() string {
	s := "s3://" + b.bucket
	if b.prefix != "" {
		s += "/" + b.prefix
	}
	return s
}

func (b *backend) key(k string) string {
	if b.prefix == "" {
		return k
	}
	return b.prefix + "/" + k
}
