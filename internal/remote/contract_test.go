package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/remote"
	"github.com/pcache/pcache/internal/s3server"
	_ "github.com/pcache/pcache/remote/s3"
)

// TestBackendContract: every backend keeps the promises the tier relies
// on: create-only puts that refuse a second writer (also when they race),
// not-found errors, sorted listing by prefix, idempotent deletes.
// Not parallel: its S3 case sets the server's credentials in the environment (srv.Env).
func TestBackendContract(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		b, err := remote.NewFileBackend(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		testBackendContract(t, b)
	})
	t.Run("s3", func(t *testing.T) {
		srv := s3server.Shared(t)
		srv.Env(t)
		b, err := remote.OpenBackend(context.Background(), "s3://"+srv.Bucket(t)+"/contract")
		if err != nil {
			t.Fatal(err)
		}
		testBackendContract(t, b)
	})
}

func put(b remote.Backend, key, v string, createOnly bool) error {
	return b.Put(context.Background(), key, strings.NewReader(v), int64(len(v)), createOnly)
}

func get(b remote.Backend, key string) (string, error) {
	r, err := b.Get(context.Background(), key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	v, err := io.ReadAll(r)
	return string(v), err
}

func testBackendContract(t *testing.T, b remote.Backend) {
	ctx := context.Background()
	if _, err := b.Get(ctx, "nope"); !errors.Is(err, remote.ErrNotExist) {
		t.Fatalf("get of a missing key: %v", err)
	}
	if _, _, err := b.Head(ctx, "nope"); !errors.Is(err, remote.ErrNotExist) {
		t.Fatalf("head of a missing key: %v", err)
	}
	if err := put(b, "a/x", "one", true); err != nil {
		t.Fatal(err)
	}
	if err := put(b, "a/x", "two", true); !errors.Is(err, remote.ErrExists) {
		t.Fatalf("second create-only put: %v", err)
	}
	if got, err := get(b, "a/x"); err != nil || got != "one" {
		t.Fatalf("after a refused put: %q, %v", got, err)
	}
	if err := put(b, "a/x", "three", false); err != nil {
		t.Fatal(err)
	}
	if size, _, err := b.Head(ctx, "a/x"); err != nil || size != 5 {
		t.Fatalf("head: %d, %v", size, err)
	}
	for _, k := range []string{"a/z", "a/y", "b/x", "ab"} {
		if err := put(b, k, k, true); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	if err := b.List(ctx, "a/", func(k string, _ int64, _ time.Time) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a/x,a/y,a/z" {
		t.Fatalf("list a/: %v", keys)
	}
	if err := b.Delete(ctx, "a/x"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "a/x"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if _, err := b.Get(ctx, "a/x"); !errors.Is(err, remote.ErrNotExist) {
		t.Fatalf("get after delete: %v", err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := put(b, "race", fmt.Sprint(i), true)
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, remote.ErrExists) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of 8 concurrent create-only puts won", wins.Load())
	}
}
