package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pcache/pcache/internal/remote"
)

func (b *backend) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := b.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &b.bucket, Key: aws.String(b.key(key))})
	if err != nil {
		return nil, b.classify(ctx, "get", key, err)
	}
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return body{out.Body, size}, nil
}

// body is a GET's body and the length its response declared (-1: none),
// which the tier checks before it allocates anything (remote.Backend.Get).
type body struct {
	io.ReadCloser
	size int64
}

func (b body) Size() int64 { return b.size }

// Put stores the object with one PUT, or, above multipartThreshold bytes,
// with a multipart upload (multipart.go).
func (b *backend) Put(ctx context.Context, key string, r io.Reader, size int64, createOnly bool) error {
	if size > multipartThreshold {
		return b.putMultipart(ctx, key, r, size, createOnly)
	}
	in := &awss3.PutObjectInput{Bucket: &b.bucket, Key: aws.String(b.key(key)), Body: r, ContentLength: aws.Int64(size)}
	if createOnly {
		in.IfNoneMatch = aws.String("*")
	}
	var opts []func(*awss3.Options)
	if _, ok := r.(io.Seeker); !ok {
		// A stream (a large object read from the local cache) cannot be
		// hashed for the signature before it is sent, nor rewound for the
		// SDK's retry (the tier tries again itself); its integrity is
		// checked by its BLAKE3 name whenever it is read back.
		opts = append(opts, awss3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware),
			func(o *awss3.Options) { o.RetryMaxAttempts = 1 })
	}
	if _, err := b.client.PutObject(ctx, in, opts...); err != nil {
		return b.classify(ctx, "put", key, err)
	}
	return nil
}

func (b *backend) Head(ctx context.Context, key string) (int64, time.Time, error) {
	out, err := b.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(b.key(key))})
	if err != nil {
		return 0, time.Time{}, b.classify(ctx, "head", key, err)
	}
	return aws.ToInt64(out.ContentLength), aws.ToTime(out.LastModified), nil
}

func (b *backend) List(ctx context.Context, prefix string, fn func(string, int64, time.Time) error) error {
	p := awss3.NewListObjectsV2Paginator(b.client, &awss3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(b.key(prefix))},
		func(o *awss3.ListObjectsV2PaginatorOptions) { o.StopOnDuplicateToken = true })
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return b.classify(ctx, "list", prefix, err)
		}
		for _, o := range page.Contents {
			if n++; n > remote.MaxListKeys {
				return fmt.Errorf("%w (s3 list %s)", remote.ErrTooManyKeys, prefix)
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

// Delete removes the object; an absent one is not an error, an absent
// bucket is.
func (b *backend) Delete(ctx context.Context, key string) error {
	_, err := b.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(b.key(key))})
	if err == nil {
		return nil
	}
	if err := b.classify(ctx, "delete", key, err); !errors.Is(err, remote.ErrNotExist) {
		return err
	}
	return nil
}
