package pcache

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// Mode says how calls use the cache. The default (the empty Mode) serves
// hits and computes and stores misses.
type Mode string

// The modes. PCACHE_MODE takes the same words.
const (
	ModeDefault Mode = ""
	// ModeOff computes every call and stores nothing.
	ModeOff Mode = "off"
	// ModeReadOnly serves local hits and computes misses without storing
	// them; no use is recorded, nothing is fetched from the remote (that
	// would write the local cache) and nothing is published to it (a Store
	// in this mode publishes nothing at all, as with RemoteReadOnly).
	ModeReadOnly Mode = "readonly"
	// ModeErrorOnMiss makes a miss return an error wrapping ErrCacheMiss:
	// for CI jobs that must be served entirely from the cache.
	ModeErrorOnMiss Mode = "error-on-miss"
	// ModeRefresh computes every call and stores its result over the old
	// one.
	ModeRefresh Mode = "refresh"
	// ModeVerify recomputes every hit and compares the result with the
	// stored one (as Go's GODEBUG=gocacheverify=1 does): a difference is an
	// error wrapping ErrVerifyMismatch (MemoErr and its relatives return it
	// too; Memo, Memo2 and Memo3, which have no error to return, log it at
	// error level and return the recomputed value), counted in
	// Stats.Mismatches. It finds nondeterministic functions and entries made
	// stale by a code change. Misses are computed and stored as usual.
	ModeVerify Mode = "verify"
)

// envMode is the environment variable Open reads the Store's mode from.
const envMode = "PCACHE_MODE"

// parseMode parses a mode's name (what PCACHE_MODE holds); "" and "on"
// are the default.
func parseMode(s string) (Mode, error) {
	switch m := Mode(strings.TrimSpace(strings.ToLower(s))); m {
	case "", "on", "default":
		return ModeDefault, nil
	case ModeOff, ModeReadOnly, ModeErrorOnMiss, ModeRefresh, ModeVerify:
		return m, nil
	}
	return "", fmt.Errorf("pcache: mode %q: want off, readonly, error-on-miss, refresh or verify", s)
}

// DefaultMode sets the mode of every call made through the Store (unless a
// call's context says otherwise), overriding $PCACHE_MODE.
func DefaultMode(m Mode) StoreOption {
	return func(o *storeOptions) { o.mode, o.modeSet = m, true }
}

type modeKey struct{}

// WithMode returns a context under which calls use mode m.
//
// Precedence: a call's mode is the one its context was given last
// (WithMode, ErrorOnMiss and NoCache shadow each other like any context
// value, so NoCache(ErrorOnMiss(ctx)) is off and ErrorOnMiss(NoCache(ctx))
// is error-on-miss); a context with no mode uses the Store's, which is
// DefaultMode if given, else $PCACHE_MODE, else the default. WithMode(ctx,
// ModeDefault) restores the default whatever the Store says.
func WithMode(ctx context.Context, m Mode) context.Context {
	return context.WithValue(ctx, modeKey{}, m)
}

// ErrorOnMiss is WithMode(ctx, ModeErrorOnMiss): a miss fails with
// ErrCacheMiss instead of computing.
func ErrorOnMiss(ctx context.Context) context.Context { return WithMode(ctx, ModeErrorOnMiss) }

// NoCache is WithMode(ctx, ModeOff): calls always compute and store
// nothing.
func NoCache(ctx context.Context) context.Context { return WithMode(ctx, ModeOff) }

// modeOf returns the mode of a call under ctx in Store s.
func (s *Store) modeOf(ctx context.Context) Mode {
	if m, ok := ctx.Value(modeKey{}).(Mode); ok {
		return m
	}
	return s.mode
}

// policy is what a call's mode asks of it: derived once per call by
// policyOf, and read alike by Func.Call and BatchFunc.Call, which compare
// no Mode themselves.
type policy struct {
	off      bool // compute only: nothing looked up or stored (ModeOff)
	lookup   bool // serve stored entries (all but ModeRefresh and ModeOff)
	write    bool // store results and record uses (all but ModeReadOnly)
	failMiss bool // a miss is an error wrapping ErrCacheMiss (ModeErrorOnMiss)
	verify   bool // recompute every hit and compare (ModeVerify)
	replace  bool // compute and store over the stored entry (ModeRefresh)
}

// policyOf returns the policy of a call under ctx in Store s (a read-only
// Store writes nothing whatever the mode).
func (s *Store) policyOf(ctx context.Context) policy {
	p := modePolicy(s.modeOf(ctx))
	if s.ReadOnly() {
		p.write = false
	}
	return p
}

// modePolicy returns what mode m asks of a call.
func modePolicy(m Mode) policy {
	switch m {
	case ModeOff:
		return policy{off: true}
	case ModeReadOnly:
		return policy{lookup: true}
	case ModeErrorOnMiss:
		return policy{lookup: true, write: true, failMiss: true}
	case ModeRefresh:
		return policy{write: true, replace: true}
	case ModeVerify:
		return policy{lookup: true, write: true, verify: true}
	}
	return policy{lookup: true, write: true}
}

// resolveMode sets the Store's mode from $PCACHE_MODE unless an option
// gave one.
func (o *storeOptions) resolveMode() error {
	if o.modeSet {
		m, err := parseMode(string(o.mode))
		o.mode = m
		return err
	}
	v := os.Getenv(envMode)
	m, err := parseMode(v)
	if err != nil {
		return fmt.Errorf("%w: $%s=%q: want off, readonly, error-on-miss, refresh or verify (or unset)", ErrConfig, envMode, v)
	}
	o.mode = m
	return nil
}
