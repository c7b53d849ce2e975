package gclock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTurnstile(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 50*time.Millisecond) }

	// Writers share; gc waits for them.
	w := NewShared(root)
	if err := w.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Acquire(ctx); err != nil { // a second goroutine joins the hold
		t.Fatal(err)
	}
	other := NewShared(root) // another process's writer
	if err := other.Acquire(ctx); err != nil {
		t.Fatalf("two writers must share: %v", err)
	}
	other.Release()
	c, cancel := short()
	if _, err := Exclusive(c, root); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("gc beside a writer: %v, want a deadline error", err)
	}
	cancel()
	w.Release()
	c, cancel = short()
	if _, err := Exclusive(c, root); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("gc while one of two holds remains: %v", err)
	}
	cancel()
	w.Release()

	// gc holds it: new writers wait.
	release, err := Exclusive(ctx, root)
	if err != nil {
		t.Fatalf("gc after the writers left: %v", err)
	}
	c, cancel = short()
	if err := other.Acquire(c); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("writer during gc: %v, want a deadline error", err)
	}
	cancel()
	release()
	if err := other.Acquire(ctx); err != nil {
		t.Fatalf("writer after gc: %v", err)
	}
	other.Release()
	w.Release() // an extra Release is harmless
}
