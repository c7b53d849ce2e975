package pcache

import "context"

type modeKey struct{}

type mode int

const (
	modeNormal mode = iota
	modeErrorOnMiss
	modeNoCache
)

// ErrorOnMiss returns a context under which calls that miss fail with
// ErrCacheMiss instead of computing: for CI runs that must be served entirely
// from the cache, and for asking "is this cached?" of a batch.
func ErrorOnMiss(ctx context.Context) context.Context {
	return context.WithValue(ctx, modeKey{}, modeErrorOnMiss)
}

// NoCache returns a context under which calls bypass the cache entirely: they
// always compute and store nothing.
func NoCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, modeKey{}, modeNoCache)
}

func modeOf(ctx context.Context) mode {
	m, _ := ctx.Value(modeKey{}).(mode)
	return m
}
