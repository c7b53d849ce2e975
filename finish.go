package pcache

import (
	"context"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/pcache/pcache/internal/engine"
)

// Source says where a call's result came from.
type Source string

// The sources of a call's result.
const (
	SourceLocal    Source = "local"         // a hit in the local cache
	SourceRemote   Source = "remote"        // a local miss served from the remote
	SourceWaited   Source = "waited"        // computed by another goroutine or process while this call waited
	SourceComputed Source = "computed"      // a miss: the function ran
	SourceVerified Source = "verified"      // a hit recomputed and compared (ModeVerify)
	SourceOff      Source = "off"           // the cache was off: the function ran, nothing was looked up
	SourceMiss     Source = "error-on-miss" // a miss that was an error (ModeErrorOnMiss)
)

// CallInfo describes one call (or one batch element) after it ran.
type CallInfo struct {
	Function    string
	Key         [32]byte // the entry's key hash (Func.Key's), zero under ModeOff
	Hit         bool
	Source      Source
	ComputeTime time.Duration // how long the function ran, on a miss or under ModeVerify
	Bytes       int64         // the encoded result's size
	Stored      bool          // a computed result was stored
	Err         error         // the function's error, or the call's
}

type observeKey struct{}

// OnCall returns a context under which every call (every batch element)
// reports a CallInfo to fn when it is done: whether it hit, where its
// result came from, how long the function ran, how large the result is.
// fn runs on the caller's goroutine (a batch's elements: possibly several
// at once) and must be quick.
func OnCall(ctx context.Context, fn func(CallInfo)) context.Context {
	return context.WithValue(ctx, observeKey{}, fn)
}

// finish ends one call (one distinct batch element): it counts its
// outcome in the function's and the Store's Stats by how it was served
// (as) and reports info to the observers. Every outcome of a call passes
// here once (but a batch's local hits, which lookupLocal counts a range at
// a time and observes as they come). Computations are counted where the
// function runs.
func finish(ctx context.Context, c *engine.Fn, as Source, info CallInfo) {
	switch as {
	case SourceLocal, SourceRemote, SourceVerified:
		c.Count(engine.StatHits)
	case SourceWaited:
		c.Count(engine.StatWaits)
		c.Count(engine.StatMisses)
	case SourceComputed, SourceMiss:
		c.Count(engine.StatMisses)
	}
	observe(ctx, c, info)
}

// observers returns the context's hook (OnCall) and whether the logger
// logs calls (at debug level).
func observers(ctx context.Context, c *engine.Fn) (fn func(CallInfo), debug bool) {
	fn, _ = ctx.Value(observeKey{}).(func(CallInfo))
	return fn, c.Logger().Enabled(ctx, slog.LevelDebug)
}

// observed reports whether calls under ctx are observed at all.
func observed(ctx context.Context, c *engine.Fn) bool {
	fn, debug := observers(ctx, c)
	return fn != nil || debug
}

// observe reports info to the context's hook and logs it at debug level.
func observe(ctx context.Context, c *engine.Fn, info CallInfo) {
	fn, debug := observers(ctx, c)
	if fn == nil && !debug {
		return
	}
	info.Function = c.Name()
	if fn != nil {
		fn(info)
	}
	if debug {
		msg := "pcache: miss"
		if info.Hit {
			msg = "pcache: hit"
		}
		args := []any{"function", c.Name(), "source", string(info.Source), "bytes", info.Bytes}
		if info.Key != ([32]byte{}) {
			args = append(args, "key", hex.EncodeToString(info.Key[:6]))
		}
		if info.ComputeTime > 0 {
			args = append(args, "compute", info.ComputeTime)
		}
		if info.Err != nil {
			args = append(args, "err", info.Err)
		}
		c.Logger().DebugContext(ctx, msg, args...)
	}
}
