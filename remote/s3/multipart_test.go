package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pcache/pcache/internal/remote"
	"github.com/pcache/pcache/internal/s3server"
	"github.com/pcache/pcache/internal/testutil"
)

// smallParts lowers the multipart threshold and part size for the test:
// puts of more than 1 MiB are multipart, in parts of 5 MiB (the least S3
// and versitygw take).
func smallParts(t *testing.T) {
	t.Helper()
	th, ps := multipartThreshold, partSize
	multipartThreshold, partSize = 1<<20, 5<<20
	t.Cleanup(func() { multipartThreshold, partSize = th, ps })
}

// stream hides a reader's other methods (Seek): a put from it is streamed,
// as the tier streams a large object from the local cache.
type stream struct{ r io.Reader }

func (s stream) Read(p []byte) (int, error) { return s.r.Read(p) }

// s3Backend opens a backend on a fresh bucket of the test's server.
func s3Backend(t *testing.T) (*backend, *s3server.Server, string) {
	t.Helper()
	srv := s3server.Shared(t)
	bucket := srv.Bucket(t)
	srv.Env(t)
	b, err := remote.OpenBackend(context.Background(), "s3://"+bucket+"/mp")
	if err != nil {
		t.Fatal(err)
	}
	return b.(*backend), srv, bucket
}

// TestMultipartRoundTrip: a put above the threshold is a multipart
// upload that reads back byte for byte; create-only holds (a second put
// fails with ErrExists and leaves the first); a plain put replaces.
func TestMultipartRoundTrip(t *testing.T) {
	smallParts(t)
	b, _, _ := s3Backend(t)
	ctx := context.Background()
	data := testutil.Bytes(1, 11<<20+3) // three parts, the last of 1 MiB and 3 bytes
	if err := b.Put(ctx, "objects/big", stream{bytes.NewReader(data)}, int64(len(data)), true); err != nil {
		t.Fatal(err)
	}
	readBack := func(want []byte) {
		t.Helper()
		r, err := b.Get(ctx, "objects/big")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read back %d bytes (err %v), want the %d put", len(got), err, len(want))
		}
		if size, _, err := b.Head(ctx, "objects/big"); err != nil || size != int64(len(want)) {
			t.Fatalf("head: %d, %v", size, err)
		}
	}
	readBack(data)
	// A multipart object's ETag ends in "-" and its number of parts.
	head, err := b.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(b.key("objects/big"))})
	if err != nil || !strings.HasSuffix(strings.Trim(aws.ToString(head.ETag), `"`), "-3") {
		t.Fatalf("ETag %q (err %v): not an upload of three parts", aws.ToString(head.ETag), err)
	}
	other := testutil.Bytes(2, 6<<20)
	if err := b.Put(ctx, "objects/big", stream{bytes.NewReader(other)}, int64(len(other)), true); !errors.Is(err, remote.ErrExists) {
		t.Fatalf("a second create-only multipart put: %v", err)
	}
	readBack(data)
	if err := b.Put(ctx, "objects/big", bytes.NewReader(other), int64(len(other)), false); err != nil {
		t.Fatal(err)
	}
	readBack(other)
	noUploadsLeft(t, b)
}

// barrier is a reader that blocks its first Read until n readers have
// made one: every put of the race has passed its HEAD before any sends.
type barrier struct {
	r    io.Reader
	once sync.Once
	wg   *sync.WaitGroup
}

func (b *barrier) Read(p []byte) (int, error) {
	b.once.Do(func() { b.wg.Done(); b.wg.Wait() })
	return b.r.Read(p)
}

// TestMultipartCreateOnlyRace: create-only multipart puts of one key that
// all found it absent are told apart when they complete (If-None-Match on
// the completion): one wins, the others fail with ErrExists, and the
// object is the winner's whole.
func TestMultipartCreateOnlyRace(t *testing.T) {
	smallParts(t)
	b, _, _ := s3Backend(t)
	ctx := context.Background()
	const n = 3
	var ready, done sync.WaitGroup
	ready.Add(n)
	var wins atomic.Int32
	var winner atomic.Int32
	datas := make([][]byte, n)
	for i := range n {
		datas[i] = testutil.Bytes(uint64(10+i), 6<<20)
		done.Add(1)
		go func() {
			defer done.Done()
			err := b.Put(ctx, "objects/race", &barrier{r: bytes.NewReader(datas[i]), wg: &ready}, int64(len(datas[i])), true)
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(int32(i))
			case !errors.Is(err, remote.ErrExists):
				t.Error(err)
			}
		}()
	}
	done.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of %d racing create-only multipart puts won", wins.Load(), n)
	}
	r, err := b.Get(ctx, "objects/race")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, datas[winner.Load()]) {
		t.Fatal("the object is not the winner's")
	}
	noUploadsLeft(t, b)
}

// failing reads n bytes, then fails.
type failing struct {
	n   int
	err error
}

func (f *failing) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

// TestMultipartAborts: a source that fails mid-object fails the put with
// its error, leaves no object and no upload (its parts are deleted).
func TestMultipartAborts(t *testing.T) {
	smallParts(t)
	b, _, _ := s3Backend(t)
	ctx := context.Background()
	bad := errors.New("the local copy went bad")
	err := b.Put(ctx, "objects/torn", &failing{n: 7 << 20, err: bad}, 16<<20, true)
	if !errors.Is(err, bad) {
		t.Fatalf("put from a failing reader: %v", err)
	}
	if _, _, err := b.Head(ctx, "objects/torn"); !errors.Is(err, remote.ErrNotExist) {
		t.Fatalf("after a failed put: %v", err)
	}
	noUploadsLeft(t, b)
}

// noUploadsLeft fails the test if the bucket has multipart uploads in
// progress (parts nobody completes or aborts).
func noUploadsLeft(t *testing.T, b *backend) {
	t.Helper()
	out, err := b.client.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: &b.bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left in progress", len(out.Uploads))
	}
}
