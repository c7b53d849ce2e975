package keying

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// ErrUnkeyable is the sentinel every "cannot key this value" error unwraps to:
// a func, chan, unsafe.Pointer, uintptr or complex value, a pointer cycle, a
// CacheKey or MarshalText method that failed or panicked, a rule function that
// failed or panicked, an ambiguous struct layout. Test with errors.Is.
var ErrUnkeyable = errors.New("keying: value cannot be keyed")

// ErrInvalidRule is the sentinel every Compile error about the rules
// themselves unwraps to: a rule that names no argument, two rules on one
// argument (two key rules, two drop rules, or Ignore or OutFile with any
// other rule), a rule on an unexported field, a bad pcache tag, RuleOut on a
// field that is not a string, a DropIfEqual value that cannot be converted
// exactly to its argument's type.
var ErrInvalidRule = errors.New("keying: invalid key rule")

// ErrNilArgument is the sentinel the error of Plan.Key unwraps to when the
// plan's argument type is a pointer to an argument struct (*S) and the
// argument is a nil *S: there are no arguments to key. The error names the
// type, e.g. "keying: argument is a nil *pkg.S: keying: nil argument".
var ErrNilArgument = errors.New("keying: nil argument")

// Error reports a value that cannot be keyed. Path names where the value sits
// inside the keyed value, starting with the keyed type's name ("Args") or
// "value" when the type has no name: fields as ".Name", slice and array
// elements as "[3]", map values as "[key]", a CacheKey result as
// ".CacheKey()". In Compile's static checks, where no index is known, elements
// are written "[*]" and map keys "[key *]".
type Error struct {
	Path   string       // e.g. "Args.Items[3].Fn"
	Type   reflect.Type // the type of the value at Path; nil when unknown
	Reason string       // e.g. "funcs cannot be keyed"
	Err    error        // the underlying error of a failing method or rule function, or nil
}

// Error renders e as "keying: PATH (TYPE): REASON".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("keying: ")
	b.WriteString(e.Path)
	if e.Type != nil {
		b.WriteString(" (")
		b.WriteString(e.Type.String())
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns ErrUnkeyable, so errors.Is(err, ErrUnkeyable) holds for
// every *Error.
func (e *Error) Unwrap() error { return ErrUnkeyable }

// Is reports whether target is in the chain of e.Err, so a caller can also
// test for the error a CacheKey method or rule function returned (for
// example context.Canceled).
func (e *Error) Is(target error) bool { return e.Err != nil && errors.Is(e.Err, target) }

// As finds the first error in e.Err's chain that matches target.
func (e *Error) As(target any) bool { return e.Err != nil && errors.As(e.Err, target) }

// pathEnds is how many segments of a very long path are shown at each end.
const pathEnds = 16

// walkErr is the error a walk returns while it unwinds; each level appends its
// path segment (in reverse), so a successful walk never builds paths.
type walkErr struct {
	segs   []string // innermost first
	typ    reflect.Type
	reason string
	err    error
}

func (w *walkErr) Error() string { return w.toError("value").Error() }

func (w *walkErr) toError(root string) *Error {
	var b strings.Builder
	b.WriteString(root)
	for i := len(w.segs) - 1; i >= 0; i-- {
		if n := len(w.segs); n > 2*pathEnds && i == n-1-pathEnds {
			// A path thousands of levels deep (a cycle, a runaway CacheKey)
			// is shown by its two ends.
			fmt.Fprintf(&b, "…(%d more)…", n-2*pathEnds)
			i = pathEnds
		}
		b.WriteString(w.segs[i])
	}
	return &Error{Path: b.String(), Type: w.typ, Reason: w.reason, Err: w.err}
}

func newWalkErr(t reflect.Type, reason string, cause error) *walkErr {
	return &walkErr{typ: t, reason: reason, err: cause}
}

// atField, atIndex and atKey add a path segment to a walk error on its way up.
func atField(err error, name string) error {
	if w, ok := err.(*walkErr); ok {
		w.segs = append(w.segs, "."+name)
	}
	return err
}

func atIndex(err error, i int) error {
	if w, ok := err.(*walkErr); ok {
		w.segs = append(w.segs, "["+strconv.Itoa(i)+"]")
	}
	return err
}

func atSeg(err error, seg string) error {
	if w, ok := err.(*walkErr); ok {
		w.segs = append(w.segs, seg)
	}
	return err
}

func atKey(err error, k reflect.Value) error {
	if w, ok := err.(*walkErr); ok {
		w.segs = append(w.segs, "["+renderKey(k)+"]")
	}
	return err
}

// renderKey renders a map key for an error path, never failing.
func renderKey(k reflect.Value) (s string) {
	defer func() {
		if recover() != nil {
			s = "?"
		}
	}()
	for k.Kind() == reflect.Interface && !k.IsNil() {
		k = k.Elem()
	}
	if k.Kind() == reflect.String {
		return strconv.Quote(k.String())
	}
	if !k.CanInterface() {
		return k.Type().String()
	}
	s = fmt.Sprint(k.Interface())
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

// rootName is the first element of error paths for values of type t: its
// name for a defined type or a pointer to one, else "value".
func rootName(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer && t.Name() == "" {
		t = t.Elem()
	}
	if t != nil && t.Name() != "" && t.PkgPath() != "" {
		return t.Name()
	}
	return "value"
}

// finish converts a walk error to an *Error rooted at root; other errors (a
// failing io.Writer) pass through.
func finish(err error, root string) error {
	if err == nil {
		return nil
	}
	if w, ok := err.(*walkErr); ok {
		return w.toError(root)
	}
	return err
}
