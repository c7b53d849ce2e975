package engine

import (
	"errors"
	"fmt"
	"strings"
)

// The engine's sentinels; package pcache exports them under the same names.
var (
	ErrClosed   = errors.New("pcache: store is closed")
	ErrReadOnly = errors.New("pcache: cache is read-only")
)

// pcError is an error of pcache: its message starts with one "pcache: "
// and never repeats it, however deep the causes it wraps.
type pcError struct{ err error }

func (e *pcError) Error() string {
	s := strings.TrimPrefix(e.err.Error(), "pcache: ")
	return "pcache: " + strings.ReplaceAll(s, ": pcache: ", ": ")
}

func (e *pcError) Unwrap() error { return e.err }

// Errorf formats an error of pcache (format without the "pcache: " prefix,
// which the message gets once).
func Errorf(format string, args ...any) error {
	return &pcError{fmt.Errorf(format, args...)}
}

// IsOwn reports whether err is (or wraps) an error pcache made, as opposed
// to one a cached function returned.
func IsOwn(err error) bool {
	var pe *pcError
	return errors.As(err, &pe)
}
