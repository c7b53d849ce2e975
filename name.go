package pcache

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadName is returned (wrapped) by Wrap for a name that is not a safe
// relative slash path.
var ErrBadName = errors.New("pcache: invalid function name")

// checkName accepts relative slash-separated paths whose segments are made of
// letters, digits and . _ - + = @ , (not "." or ".."), so a name is a safe
// directory path on every common file system.
func checkName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrBadName, name, why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > 512:
		return bad("longer than 512 bytes")
	case strings.HasPrefix(name, "/"):
		return bad("absolute path; use a relative slash path such as \"project/step\"")
	}
	for _, seg := range strings.Split(name, "/") {
		switch seg {
		case "":
			return bad("empty path segment")
		case ".", "..":
			return bad("\".\" and \"..\" segments are not allowed")
		}
		if len(seg) > 128 {
			return bad("a segment is longer than 128 bytes")
		}
		if strings.HasSuffix(seg, ".") {
			return bad("a segment ends with '.'")
		}
		for _, r := range seg {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
				strings.ContainsRune("._-+=@,", r)
			if !ok {
				return bad(fmt.Sprintf("character %q is not allowed (use letters, digits and . _ - + = @ ,)", r))
			}
		}
	}
	return nil
}
