package pcache

import (
	"fmt"
	"strings"
)

// pcError is an error of this package: its message starts with one
// "pcache: " and never repeats it, however deep the causes it wraps.
type pcError struct{ err error }

func (e *pcError) Error() string {
	s := strings.TrimPrefix(e.err.Error(), "pcache: ")
	return "pcache: " + strings.ReplaceAll(s, ": pcache: ", ": ")
}

func (e *pcError) Unwrap() error { return e.err }

// errorf formats an error of this package (format without the "pcache: "
// prefix, which the message gets once).
func errorf(format string, args ...any) error {
	return &pcError{fmt.Errorf(format, args...)}
}

// lower lower-cases ASCII letters (function names are ASCII).
func lower(s string) string { return strings.ToLower(s) }
