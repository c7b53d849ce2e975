package s3

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/s3server"
	"github.com/pcache/pcache/internal/testutil"
)

// TestStoresShareThroughS3 is the library's sharing test over a real
// S3-compatible server, in a program that imports this package: a store
// publishes its entries, and a store on an empty local cache is served
// every one without computing, whether the remote is named by the Remote
// option, its endpoint in the URL's query, or by $PCACHE_REMOTE with the
// endpoint in $AWS_ENDPOINT_URL.
// One result is large enough for a multipart upload.
func TestStoresShareThroughS3(t *testing.T) {
	smallParts(t)
	srv := s3server.Shared(t)
	srv.Env(t)
	bucket := srv.Bucket(t)
	big := 6 << 20 // above the lowered multipart threshold
	value := func(n int) []byte {
		if n == 0 {
			return testutil.Bytes(3, big)
		}
		return []byte(fmt.Sprint("value ", n))
	}
	run := func(s *pcache.Store) (computes int) {
		t.Helper()
		f := pcache.MustWrap(s, "s3/share", func(_ context.Context, n int) ([]byte, error) { computes++; return value(n), nil })
		for n := range 20 {
			got, err := f.Call(context.Background(), n)
			if err != nil || !bytes.Equal(got, value(n)) {
				t.Fatalf("call %d: %d bytes, %v", n, len(got), err)
			}
		}
		return computes
	}
	open := func(opts ...pcache.StoreOption) *pcache.Store {
		t.Helper()
		s, err := pcache.Open(t.TempDir(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// The endpoint in the URL, none in the environment.
	url := "s3://" + bucket + "/team?endpoint=" + srv.Endpoint()
	t.Setenv("AWS_ENDPOINT_URL", "")
	os.Unsetenv("AWS_ENDPOINT_URL")
	a := open(pcache.Remote(url))
	if n := run(a); n != 20 {
		t.Fatalf("the first store computed %d of 20", n)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Uploads != 20 || st.RemoteErrors != 0 {
		t.Fatalf("first store: %+v: want 20 entries uploaded", st)
	}
	b := open(pcache.Remote(url))
	if n := run(b); n != 0 {
		t.Fatalf("the second store computed %d; want every entry from the remote (%+v)", n, b.Stats())
	}
	b.Close()

	// $PCACHE_REMOTE and the standard variables, as a user sets them.
	srv.Env(t)
	t.Setenv("PCACHE_REMOTE", "s3://"+bucket+"/team")
	c := open()
	if n := run(c); n != 0 {
		t.Fatalf("a store of $%s computed %d (%+v)", "PCACHE_REMOTE", n, c.Stats())
	}
	if st := c.Stats(); st.RemoteHits != 20 {
		t.Fatalf("a store of $%s: %+v", "PCACHE_REMOTE", st)
	}
	c.Close()
}

// TestCompressedSharesThroughS3: a store whose function compresses
// publishes its large results compressed (objects/<id>.zst, one of them
// above the lowered multipart threshold even compressed), and a store
// that does not compress, on an empty local cache, is served every one
// without computing, verified.
func TestCompressedSharesThroughS3(t *testing.T) {
	smallParts(t)
	srv := s3server.Shared(t)
	bucket := srv.Bucket(t)
	url := "s3://" + bucket + "/zstd?endpoint=" + srv.Endpoint()
	srv.Env(t)
	value := func(n int) string {
		var b bytes.Buffer
		rows := 4000
		if n == 0 {
			rows = 400000 // 12 MiB, 1.9 MB compressed: over the 1 MiB multipart threshold
		}
		for i := 0; i < rows; i++ {
			fmt.Fprintf(&b, `{"n":%d,"row":%d,"v":"%x"},`, n, i, (i*2654435761)%65536)
		}
		return b.String()
	}
	run := func(s *pcache.Store, opts ...pcache.Option) (computes int) {
		t.Helper()
		f := pcache.MustWrap(s, "s3/zstd", func(_ context.Context, n int) (string, error) { computes++; return value(n), nil }, opts...)
		for n := range 4 {
			if got, err := f.Call(context.Background(), n); err != nil || got != value(n) {
				t.Fatalf("call %d: %d bytes, %v", n, len(got), err)
			}
		}
		return computes
	}
	a, err := pcache.Open(t.TempDir(), pcache.Remote(url))
	if err != nil {
		t.Fatal(err)
	}
	if n := run(a, pcache.Compress(0)); n != 4 {
		t.Fatalf("the first store computed %d of 4", n)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Uploads != 4 || st.RemoteErrors != 0 {
		t.Fatalf("first store: %+v: want 4 entries uploaded", st)
	}
	b, err := pcache.Open(t.TempDir(), pcache.Remote(url))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if n := run(b); n != 0 {
		t.Fatalf("the second store computed %d; want every entry from the remote (%+v)", n, b.Stats())
	}
	if st := b.Stats(); st.RemoteHits != 4 || st.RemoteErrors != 0 {
		t.Fatalf("second store: %+v: want 4 remote hits", st)
	}
}
