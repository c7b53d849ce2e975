// Package remotetest is what pcache's tests of the remote tier share: a
// backend wrapper that injects faults (the S3 server is package s3server).
package remotetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pcache/pcache/internal/remote"
)

// Faulty wraps a backend and misbehaves as told. Its knobs may be changed
// while it is in use.
type Faulty struct {
	B remote.Backend

	// Down makes every request fail at once with a 503-like error.
	Down atomic.Bool
	// Hang makes every request wait until its context ends (with HangOp,
	// only requests of that kind: "get", "put", "head", "list", "delete").
	Hang   atomic.Bool
	HangOp string
	// Latency is added to every request (nanoseconds).
	Latency atomic.Int64
	// FailEvery makes every n-th request fail with a 5xx-like error (0: none).
	FailEvery atomic.Int64
	// TornGets cuts every body Get returns to half its length.
	TornGets atomic.Bool
	// FlipGets flips one bit of every body Get returns: of its middle
	// byte, or with FlipAt (1 to 63) of byte len*FlipAt/64.
	FlipGets atomic.Bool
	FlipAt   atomic.Int64
	// IgnoreConditions makes create-only puts overwrite, as servers that
	// ignore If-None-Match do.
	IgnoreConditions atomic.Bool
	// Only, if set, limits the faults to keys containing it.
	Only string
	// OnRequest, if set, is called as each request starts.
	OnRequest func(op, key string)
	// Refuse, if set, is asked about each request (after Latency): a
	// non-nil error is the request's answer, as a server's refusal (wrap
	// remote.ErrNoBucket, ErrDenied, ErrTooLarge, or carry an HTTP status:
	// see HTTPError).
	Refuse func(op, key string) error

	n        atomic.Int64
	mu       sync.Mutex
	requests map[string]int
}

// ErrInjected is the error of an injected failure.
var ErrInjected = errors.New("remotetest: injected failure (503 Service Unavailable)")

// HTTPError is a server's answer with an HTTP status and no more
// precise meaning, as the S3 SDK's response errors carry one.
type HTTPError struct {
	Status int
	Op     string
	Key    string
}

func (e *HTTPError) Error() string       { return fmt.Sprintf("%s %s: HTTP %d", e.Op, e.Key, e.Status) }
func (e *HTTPError) HTTPStatusCode() int { return e.Status }

// NewFaulty wraps b.
func NewFaulty(b remote.Backend) *Faulty { return &Faulty{B: b, requests: map[string]int{}} }

// Requests returns how many requests of each kind ("get", "put", ...) were made.
func (f *Faulty) Requests() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.requests {
		out[k] = v
	}
	return out
}

// Total returns the number of requests made.
func (f *Faulty) Total() int {
	n := 0
	for _, v := range f.Requests() {
		n += v
	}
	return n
}

func (f *Faulty) fault(ctx context.Context, op, key string) error {
	f.mu.Lock()
	f.requests[op]++
	f.mu.Unlock()
	if f.OnRequest != nil {
		f.OnRequest(op, key)
	}
	if f.Only != "" && !strings.Contains(key, f.Only) {
		return nil
	}
	if d := f.Latency.Load(); d > 0 {
		t := time.NewTimer(time.Duration(d))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if f.Refuse != nil {
		if err := f.Refuse(op, key); err != nil {
			return err
		}
	}
	if f.Hang.Load() && (f.HangOp == "" || f.HangOp == op) {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.Down.Load() {
		return fmt.Errorf("%s %s: %w", op, key, ErrInjected)
	}
	if n := f.FailEvery.Load(); n > 0 && f.n.Add(1)%n == 0 {
		return fmt.Errorf("%s %s: %w", op, key, ErrInjected)
	}
	return nil
}

func (f *Faulty) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := f.fault(ctx, "get", key); err != nil {
		return nil, err
	}
	r, err := f.B.Get(ctx, key)
	if err != nil || (f.Only != "" && !strings.Contains(key, f.Only)) || (!f.TornGets.Load() && !f.FlipGets.Load()) {
		return r, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if f.TornGets.Load() {
		b = b[:len(b)/2]
	}
	if f.FlipGets.Load() && len(b) > 0 {
		at := len(b) / 2
		if k := f.FlipAt.Load(); k > 0 {
			at = int(int64(len(b)) * k / 64)
		}
		b[at] ^= 0x10
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (f *Faulty) Put(ctx context.Context, key string, r io.Reader, size int64, createOnly bool) error {
	if err := f.fault(ctx, "put", key); err != nil {
		return err
	}
	if f.IgnoreConditions.Load() {
		createOnly = false
	}
	return f.B.Put(ctx, key, r, size, createOnly)
}

func (f *Faulty) Head(ctx context.Context, key string) (int64, time.Time, error) {
	if err := f.fault(ctx, "head", key); err != nil {
		return 0, time.Time{}, err
	}
	return f.B.Head(ctx, key)
}

func (f *Faulty) List(ctx context.Context, prefix string, fn func(string, int64, time.Time) error) error {
	if err := f.fault(ctx, "list", prefix); err != nil {
		return err
	}
	return f.B.List(ctx, prefix, fn)
}

func (f *Faulty) Delete(ctx context.Context, key string) error {
	if err := f.fault(ctx, "delete", key); err != nil {
		return err
	}
	return f.B.Delete(ctx, key)
}

// String is the wrapped backend's: a cache's state for a remote (its
// outbox, its mirror) is found by the remote's name, faults or not.
func (f *Faulty) String() string { return f.B.String() }
