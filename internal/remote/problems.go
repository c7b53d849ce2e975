package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// What a failed or refused request says about the remote. Each kind of
// problem is logged once (at warn or error) until the remote answers
// properly again; the rest go to debug, and Stats counts every one.
type problemKind string

const (
	// The remote cannot be reached, times out, answers 5xx (or anything
	// else not below): the breaker counts it.
	kindUnreachable problemKind = "unreachable"
	// The bucket (or shared directory) does not exist: nothing can work
	// until someone creates it. The breaker holds for maxBackoff.
	kindNoBucket problemKind = "no-bucket"
	// The credentials are refused for reads (and so, most likely, for
	// everything). The breaker holds for maxBackoff.
	kindDenied problemKind = "denied"
	// Writes are refused while reads work: the tier turns read-only.
	kindReadOnly problemKind = "read-only"
	// The server refused one object or index file for good (too large,
	// forbidden for that key, another 4xx): what needed it is dropped.
	kindTooLarge problemKind = "refused-too-large"
	kindRefused  problemKind = "refused"
)

// httpStatus returns the HTTP status an error carries (the S3 SDK's
// response errors say it), or 0.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// denied reports whether err refuses the request for the credentials
// (ErrDenied, or an HTTP 401 or 403 a backend did not name).
func denied(err error) bool {
	s := httpStatus(err)
	return errors.Is(err, ErrDenied) || s == 401 || s == 403
}

// refusedForGood reports whether err is the server's refusal of one
// request that asking again would not change: too large, access denied, or
// a 4xx that is not about timing (408, 429) or the key's existence (404,
// 409, 412).
func refusedForGood(err error) bool {
	if errors.Is(err, ErrTooLarge) || denied(err) {
		return true
	}
	switch s := httpStatus(err); s {
	case 404, 408, 409, 412, 429:
		return false
	default:
		return s >= 400 && s < 500
	}
}

// writeRefusal marks the server's refusal of a put for good (see
// refusedForGood): the publisher decides what it means (one key refused,
// or every write), so the request is neither tried again nor counted by
// the breaker as the remote failing.
type writeRefusal struct{ err error }

func (e writeRefusal) Error() string { return e.err.Error() }
func (e writeRefusal) Unwrap() error { return e.err }

// asWriteRefusal wraps the error of a put the server refused for good.
func asWriteRefusal(err error) error {
	if err != nil && refusedForGood(err) && !errors.As(err, new(writeRefusal)) {
		return writeRefusal{err}
	}
	return err
}

// putError is what the tier makes of a put's error: a put answered "not
// found" says the bucket (or shared directory) is not there — a key need
// not exist to be written — and a refusal for good is a writeRefusal.
func putError(err error) error {
	if errors.Is(err, ErrNotExist) && !errors.Is(err, ErrNoBucket) {
		return fmt.Errorf("%w (a put was answered: %v)", ErrNoBucket, err)
	}
	return asWriteRefusal(err)
}

// refusalKind names a write refusal for messages and the say-once log.
func refusalKind(err error) problemKind {
	if errors.Is(err, ErrTooLarge) || httpStatus(err) == 413 {
		return kindTooLarge
	}
	return kindRefused
}

// sayer logs each kind of problem once until it is cleared.
type sayer struct {
	mu   sync.Mutex
	said map[problemKind]bool
}

// say logs msg at level the first time kind is said since it was last
// cleared, and at debug after that.
func (t *Tier) say(kind problemKind, level slog.Level, msg string, args ...any) {
	t.sayer.mu.Lock()
	first := !t.sayer.said[kind]
	if t.sayer.said == nil {
		t.sayer.said = map[problemKind]bool{}
	}
	t.sayer.said[kind] = true
	t.sayer.mu.Unlock()
	if !first {
		level = slog.LevelDebug
	}
	t.opts.Logger.Log(context.Background(), level, msg, append([]any{"remote", t.b.String()}, args...)...)
}

// unsay clears kinds, so that they are said again if they come back.
func (t *Tier) unsay(kinds ...problemKind) {
	t.sayer.mu.Lock()
	for _, k := range kinds {
		delete(t.sayer.said, k)
	}
	t.sayer.mu.Unlock()
}
