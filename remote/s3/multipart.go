package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pcache/pcache/internal/remote"
)

// multipartThreshold is the size above which a put is a multipart upload:
// one PUT carries at most 5 GiB, and a part, unlike a stream, is read into
// memory, so it is signed and retried on its own. Variables, so that tests
// can lower them.
var (
	multipartThreshold int64 = 64 << 20
	// partSize is a part's size (the last is smaller), grown for an object
	// that would need more than maxParts parts; S3 wants at least 5 MiB.
	partSize int64 = 16 << 20
)

const (
	maxParts = 10000 // S3's limit
	// partsInFlight bounds the parts uploaded at once, and so the memory
	// an upload holds: partsInFlight × the part size (64 MiB up to an
	// object of 160 GB; then the parts grow).
	partsInFlight = 4
)

// putMultipart stores size bytes of r at key as a multipart upload, which
// is aborted (its parts deleted) if anything fails.
//
// Create-only: S3 takes If-None-Match: * on the request that completes
// the upload, so a key that appeared meanwhile is not replaced and the put
// fails with remote.ErrExists, as a single PUT would. Before any part is
// sent a HEAD asks whether the key is there, so that gigabytes are not
// sent to be refused. A server that ignores the condition on completion
// (as some ignore it on PUT) can replace an object written between the
// HEAD and the completion: only objects are this large (log entries and
// checkpoints, whose create-only puts order the remote's log, are at most
// a MiB; segments at most 64 MiB), and an object is named by the BLAKE3
// of its content, so what would be replaced is the same bytes.
func (b *backend) putMultipart(ctx context.Context, key string, r io.Reader, size int64, createOnly bool) error {
	if createOnly {
		_, _, err := b.Head(ctx, key)
		if err == nil {
			return fmt.Errorf("%w: %s", remote.ErrExists, key)
		}
		if !errors.Is(err, remote.ErrNotExist) {
			return err
		}
	}
	k := aws.String(b.key(key))
	out, err := b.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &b.bucket, Key: k})
	if err != nil {
		return b.classify(ctx, "put", key, err)
	}
	id := out.UploadId
	parts, err := b.putParts(ctx, key, id, r, size)
	if err == nil {
		in := &awss3.CompleteMultipartUploadInput{Bucket: &b.bucket, Key: k, UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
		if createOnly {
			in.IfNoneMatch = aws.String("*")
		}
		if _, err = b.client.CompleteMultipartUpload(ctx, in); err == nil {
			return nil
		}
		err = b.classify(ctx, "put", key, err)
	}
	// Abort even when ctx has ended: the parts would otherwise be kept
	// (and billed) until a lifecycle rule removes them.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	b.client.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: k, UploadId: id})
	return err
}

// putParts reads r part by part and uploads the parts, at most
// partsInFlight at once, returning them in order for the completion.
func (b *backend) putParts(ctx context.Context, key string, id *string, r io.Reader, size int64) ([]types.CompletedPart, error) {
	ps := max(partSize, (size+maxParts-1)/maxParts)
	n := int((size + ps - 1) / ps)
	parts := make([]types.CompletedPart, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	free := make(chan []byte, partsInFlight) // buffers, allocated as first needed
	for range partsInFlight {
		free <- nil
	}
	for i := range n {
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		m := min(ps, size-int64(i)*ps)
		if int64(cap(buf)) < m {
			buf = make([]byte, m)
		}
		buf = buf[:m]
		if _, err := io.ReadFull(r, buf); err != nil {
			fail(fmt.Errorf("remote: s3 put %s: reading part %d of %d: %w", key, i+1, n, err))
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			num := aws.Int32(int32(i + 1))
			out, err := b.client.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &b.bucket, Key: aws.String(b.key(key)),
				UploadId: id, PartNumber: num, Body: bytes.NewReader(buf), ContentLength: aws.Int64(m)})
			if err != nil {
				fail(b.classify(ctx, "put", fmt.Sprintf("%s (part %d of %d)", key, i+1, n), err))
				return
			}
			parts[i] = types.CompletedPart{ETag: out.ETag, PartNumber: num}
			free <- buf
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err() // the caller's context ended
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return parts, nil
}
