package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/remote"
	"github.com/pcache/pcache/internal/testutil"
	_ "github.com/pcache/pcache/remote/s3"
)

// newTier opens a tier of b for a fresh local cache.
func newTier(t *testing.T, b remote.Backend, opts remote.Options) (*remote.Tier, layout.Dir) {
	t.Helper()
	d := layout.New(t.TempDir())
	for _, p := range []string{d.Objects(), d.Tmp(), d.Locks(), d.Manifests()} {
		if err := os.MkdirAll(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	store, err := cas.Open(d, cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tier, err := remote.Open(context.Background(), b, d, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tier.Close() })
	return tier, d
}

// hostileS3 is an S3 endpoint on 127.0.0.1 answering every request with
// 200 and whatever answer(key, w) writes.
func hostileS3(t *testing.T, answer func(key string, w http.ResponseWriter, r *http.Request)) (remote.Backend, *atomic.Int64) {
	t.Helper()
	var gets atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/bucket/prefix/")
		switch r.Method {
		case http.MethodGet:
			gets.Add(1)
			if r.URL.Query().Has("list-type") {
				w.Header().Set("Content-Type", "application/xml")
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>`)
				return
			}
			answer(key, w, r)
		case http.MethodHead:
			w.Header().Set("Content-Length", "1")
			w.WriteHeader(http.StatusOK)
		default:
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "hostile")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "hostilesecret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	b, err := remote.OpenBackend(context.Background(), "s3://bucket/prefix")
	if err != nil {
		t.Fatal(err)
	}
	return b, &gets
}

// endless writes zeros until the client goes away.
func endless(w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := w.Write(buf); err != nil {
			return
		}
		if r.Context().Err() != nil {
			return
		}
	}
}

// TestHostileBucket (issue 26, item 9) runs a real S3 client against an
// endpoint that answers 200 to every GET: with an empty body, with a
// Content-Length of a TiB, with an endless body, with a stalled body. Every
// read of the index is refused before it is allocated or at its bound; a
// fetch stops at the size the record promised (nothing is left in tmp/),
// and a stalled fetch ends at the idle timeout, not at a deadline grown by
// the declared size; an entry declaring 2^50 bytes is not fetched at all.
// It runs in a process of its own (testutil.Alone): it sets the AWS
// variables (t.Setenv), and its allocation bounds read what the whole
// process allocates.
func TestHostileBucket(t *testing.T) {
	if !testutil.Alone(t) {
		return
	}
	ctx := context.Background()
	mode := atomic.Value{}
	mode.Store("empty")
	b, gets := hostileS3(t, func(key string, w http.ResponseWriter, r *http.Request) {
		switch mode.Load().(string) {
		case "empty":
			w.WriteHeader(http.StatusOK)
		case "huge-length":
			w.Header().Set("Content-Length", fmt.Sprint(int64(1)<<40))
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the client must not wait for the rest
		case "endless":
			endless(w, r)
		case "stall":
			w.Header().Set("Content-Length", fmt.Sprint(1<<20))
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("0123456789"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	})

	// 200 to every GET: one lookup is a bounded number of requests.
	tier, d := newTier(t, b, remote.Options{ReadOnly: true, Timeout: 2 * time.Second})
	tier.Lookup(ctx, "f", [32]byte{1}, false)
	if g := gets.Load(); g > 3*(remote.MaxDamagedPerRefresh+1)+8 {
		t.Errorf("a lookup against 200-to-every-GET made %d GETs", g)
	}
	// The stalled fetch at the end waits for the request timeout: -short,
	// on a tier of its own (opened now, while GETs answer at once) with
	// 500 ms.
	stallTier, idle := tier, 2*time.Second
	if testing.Short() {
		idle = 500 * time.Millisecond
		stallTier, _ = newTier(t, b, remote.Options{ReadOnly: true, Timeout: idle})
	}

	// Sizes are bounded before allocation.
	for _, m := range []string{"huge-length", "endless"} {
		mode.Store(m)
		indexReadsBounded(t, b, m)
	}

	// Objects: an endless body stops at the promised size; nothing stays in tmp/.
	mode.Store("endless")
	e := record.Entry{Result: cas.ID{7}, Size: 1 << 20, Codec: "raw"}
	e.KeyHash[0] = 1
	if err := tier.Fetch(ctx, &e); !errors.Is(err, remote.ErrUnavailable) {
		t.Fatalf("endless object: %v", err)
	}
	if ents, _ := os.ReadDir(d.Tmp()); len(ents) != 0 {
		t.Errorf("tmp/ holds %d files after a refused download", len(ents))
	}
	// A declared 2^50 bytes: not fetched at all.
	before := gets.Load()
	e.Size = 1 << 50
	if err := tier.Fetch(ctx, &e); !errors.Is(err, remote.ErrUnavailable) || gets.Load() != before || tier.Stats().TooLarge != 1 {
		t.Fatalf("2^50-byte object: err %v, %d GETs, TooLarge %d", err, gets.Load()-before, tier.Stats().TooLarge)
	}
	// A stalled body ends at the idle timeout (the request timeout),
	// whatever the size says.
	mode.Store("stall")
	e.Size = 1 << 30
	start := time.Now()
	if err := stallTier.Fetch(ctx, &e); !errors.Is(err, remote.ErrUnavailable) || !errors.Is(err, remote.ErrStalled) {
		t.Fatalf("stalled object: %v", err)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("a stalled 1 GiB download took %v to give up (idle timeout %v)", el, idle)
	}
}

// indexReadsBounded reads each index file of function "f" from a bucket
// answering in mode m ("huge-length": a declared length past any bound;
// "endless": an undeclared, endless body) and wants each refused as too
// large, with what it allocated bounded.
func indexReadsBounded(t *testing.T, b remote.Backend, m string) {
	t.Helper()
	ctx := context.Background()
	for _, tc := range remote.IndexFiles("f") {
		if m == "endless" && tc.Limit > 1<<20 && testing.Short() {
			// -short: not the 64 MiB segment, read to its bound by
			// the same code as the smaller files, at 64 times the
			// cost of the largest of them.
			continue
		}
		start := time.Now()
		var err error
		alloc := testutil.Allocated(func() {
			c, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err = remote.GetAll(c, b, tc.Key, tc.Limit)
			cancel()
		})
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("%s %s: err %v, want refused as too large", m, tc.Key, err)
		}
		// A declared length is refused before anything is allocated
		// for the body; an undeclared one is read (doubling) to the
		// bound and no further.
		bound := uint64(8 << 20)
		if m == "endless" {
			bound = uint64(4*tc.Limit + 16<<20)
		}
		if alloc > bound {
			t.Errorf("%s %s: allocated %d bytes for a limit of %d", m, tc.Key, alloc, tc.Limit)
		}
		if m == "huge-length" && time.Since(start) > 10*time.Second {
			t.Errorf("%s %s: took %v", m, tc.Key, time.Since(start))
		}
	}
}
