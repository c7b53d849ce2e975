//go:build !pcache_nos3

package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// s3Backend keeps blobs as objects of one bucket under a prefix.
type s3Backend struct {
	client         *s3.Client
	bucket, prefix string
}

// newS3 makes the S3 backend of bucket and prefix. The endpoint, region and
// credentials come only from the standard AWS chain (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_PROFILE,
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_S3, shared config files, instance
// roles). With a custom endpoint (an S3-compatible server), requests use
// path-style addressing and the region defaults to us-east-1. Checksums are
// sent and checked only where S3 requires them, which S3-compatible servers
// need.
func newS3(ctx context.Context, bucket, prefix string) (Backend, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryMaxAttempts(2),
	)
	if err != nil {
		return nil, fmt.Errorf("remote: s3://%s: AWS configuration: %w", bucket, err)
	}
	custom := cfg.BaseEndpoint != nil || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = custom
	})
	return &s3Backend{client: client, bucket: bucket, prefix: prefix}, nil
}

func (b *s3Backend) String() string {
	if b.prefix == "" {
		return "s3://" + b.bucket
	}
	return "s3://" + b.bucket + "/" + b.prefix
}

func (b *s3Backend) key(k string) string {
	if b.prefix == "" {
		return k
	}
	return b.prefix + "/" + k
}

// classify maps S3's answers to this package's errors.
func (b *s3Backend) classify(op, key string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return fmt.Errorf("%w: %s (%s)", ErrNotExist, key, ae.ErrorCode())
		case "PreconditionFailed", "ConditionalRequestConflict":
			return fmt.Errorf("%w: %s", ErrExists, key)
		}
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s", ErrNotExist, key)
		case http.StatusPreconditionFailed, http.StatusConflict:
			return fmt.Errorf("%w: %s", ErrExists, key)
		}
	}
	return fmt.Errorf("remote: s3 %s %s: %w", op, key, err)
}

func (b *s3Backend) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: aws.String(b.key(key))})
	if err != nil {
		return nil, b.classify("get", key, err)
	}
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return s3Body{out.Body, size}, nil
}

// s3Body is a GET's body and the length its response declared (-1: none),
// which getAll checks before it allocates anything.
type s3Body struct {
	io.ReadCloser
	size int64
}

func (b s3Body) Size() int64 { return b.size }

func (b *s3Backend) Put(ctx context.Context, key string, r io.Reader, size int64, createOnly bool) error {
	in := &s3.PutObjectInput{Bucket: &b.bucket, Key: aws.String(b.key(key)), Body: r, ContentLength: aws.Int64(size)}
	if createOnly {
		in.IfNoneMatch = aws.String("*")
	}
	var opts []func(*s3.Options)
	if _, ok := r.(io.Seeker); !ok {
		// A stream (a large object read from the local cache) cannot be
		// hashed for the signature before it is sent, nor rewound for the
		// SDK's retry (the tier tries again itself); its integrity is
		// checked by its BLAKE3 name whenever it is read back.
		opts = append(opts, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware),
			func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	}
	if _, err := b.client.PutObject(ctx, in, opts...); err != nil {
		return b.classify("put", key, err)
	}
	return nil
}

func (b *s3Backend) Head(ctx context.Context, key string) (int64, time.Time, error) {
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(b.key(key))})
	if err != nil {
		return 0, time.Time{}, b.classify("head", key, err)
	}
	return aws.ToInt64(out.ContentLength), aws.ToTime(out.LastModified), nil
}

func (b *s3Backend) List(ctx context.Context, prefix string, fn func(string, int64, time.Time) error) error {
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(b.key(prefix))},
		func(o *s3.ListObjectsV2PaginatorOptions) { o.StopOnDuplicateToken = true })
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return b.classify("list", prefix, err)
		}
		for _, o := range page.Contents {
			if n++; n > maxListKeys {
				return errTooManyKeys
			}
			k := aws.ToString(o.Key)
			if b.prefix != "" {
				k = strings.TrimPrefix(k, b.prefix+"/")
			}
			if err := fn(k, aws.ToInt64(o.Size), aws.ToTime(o.LastModified)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *s3Backend) Delete(ctx context.Context, key string) error {
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(b.key(key))}); err != nil {
		if err := b.classify("delete", key, err); errors.Is(err, ErrNotExist) {
			return nil
		} else {
			return err
		}
	}
	return nil
}
