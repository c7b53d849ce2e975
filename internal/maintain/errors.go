package maintain

import (
	"errors"
	"fmt"
)

// Fix names, in the library's terms, what would fix something maintenance
// found: the operation to run next. A caller turns it into whatever it
// offers (pcache-fsck prints the command line; a program calls the method).
// Its value reads as a phrase: "check with repair".
type Fix string

// The fixes maintenance names.
const (
	// FixRepair: run Check with CheckOptions.Repair.
	FixRepair Fix = "check with repair"
	// FixCheck: run Check again (after a repair, to see it clean).
	FixCheck Fix = "check"
	// FixGC: collect garbage (PlanGC, then Execute).
	FixGC Fix = "gc"
)

// DamagedError is the error of an operation that refuses to go on because
// the cache holds damage it must not work around (a manifest or pack that
// cannot be read in full, a damaged marker, links planted where the cache
// keeps its own directories): Fix says what sees to it first, which is
// always a check with repair today. Test for it with errors.As; it wraps the
// cause (Err), so errors.Is finds that too.
type DamagedError struct {
	Dir     string // the cache directory
	Path    string // what is damaged, relative to Dir ("" when it is not one file)
	Problem string // what is wrong, for people
	Fix     Fix    // what fixes it
	Err     error  // the cause, when there is one
}

func (e *DamagedError) Error() string {
	s := e.Problem
	switch {
	case s == "" && e.Err != nil:
		s = e.Err.Error()
	case e.Err != nil:
		s += ": " + e.Err.Error()
	}
	return s + e.FixNote()
}

// FixNote is the end of Error's message that names the fix, " (to fix:
// check with repair)", for a caller that says it in its own words instead.
func (e *DamagedError) FixNote() string {
	if e.Fix == "" {
		return ""
	}
	return " (to fix: " + string(e.Fix) + ")"
}

func (e *DamagedError) Unwrap() error { return e.Err }

// Damaged is the error for the file at path (relative to the cache) that
// cannot be read as it should: a check with repair fixes it.
func (c *Cache) Damaged(path string, err error) error { return c.damaged(path, err, "") }

// damaged returns a DamagedError of the cache that a check with repair
// fixes.
func (c *Cache) damaged(path string, err error, format string, args ...any) error {
	return &DamagedError{Dir: c.d.Root(), Path: path, Problem: fmt.Sprintf(format, args...), Fix: FixRepair, Err: err}
}

// NoFunctionError is the error of an operation on a function the cache
// does not hold (Functions lists those it does).
type NoFunctionError struct {
	Dir  string // the cache directory
	Name string // the function asked for
}

func (e *NoFunctionError) Error() string {
	return fmt.Sprintf("no function named %q in %s", e.Name, e.Dir)
}

// The errors of reading what a caller passed in.
var (
	// ErrBadKeyPrefix is wrapped by the error for a key prefix that is not
	// 4 to 64 lowercase hex digits (the start of an entry's key hash, as
	// EntryInfo.KeyHash spells it).
	ErrBadKeyPrefix = errors.New("want 4 to 64 lowercase hex digits of a key hash")
	// ErrBadObjectID is wrapped by CatObject's error for an ID that is not
	// the 64 hex digits of an object ID (as EntryInfo.Result and
	// OutInfo.Object spell them).
	ErrBadObjectID = errors.New("want the 64 hex digits of an object ID")
)
