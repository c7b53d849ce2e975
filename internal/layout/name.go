package layout

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrBadName is wrapped by every error about a function name that cannot be
// a cache's function name.
var ErrBadName = errors.New("invalid function name")

// windowsReserved are device names Windows refuses as a file name, with or
// without an extension, in any case.
var windowsReserved = map[string]bool{"CON": true, "PRN": true, "AUX": true, "NUL": true, "CONIN$": true, "CONOUT$": true}

func init() {
	for _, p := range []string{"COM", "LPT"} {
		for i := 0; i <= 9; i++ {
			windowsReserved[fmt.Sprintf("%s%d", p, i)] = true
		}
	}
}

// CheckName is the one rule for function names: relative slash-separated
// paths whose segments are made of ASCII letters, digits and . _ - + = @ ,
// (not "." or "..", not ending in '.', not a Windows device name such as
// "con" or "lpt1.x"), so a name is the same safe directory path on Linux,
// macOS and Windows. Case-insensitive collisions with other names of one
// cache are CheckCollision's job.
func CheckName(name string) error {
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
		stem, _, _ := strings.Cut(seg, ".")
		if windowsReserved[strings.ToUpper(stem)] {
			return bad(fmt.Sprintf("segment %q is a device name on Windows", seg))
		}
	}
	return nil
}

// CheckCollision fails if the cache already holds a function whose name
// differs from name only in letter case along the way (ds/Train beside
// ds/train): on a case-insensitive file system (macOS, Windows) the two
// would share one directory. It reads one directory per segment of name.
func (d Dir) CheckCollision(name string) error {
	dir := d.Manifests()
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil // nothing stored below here (or unreadable: the open reports it)
		}
		for _, e := range ents {
			if e.IsDir() && e.Name() != seg && strings.EqualFold(e.Name(), seg) {
				other := strings.Join(append(append([]string(nil), segs[:i]...), e.Name()), "/")
				return fmt.Errorf("%w %q: the cache already holds %q, which differs only in case; on macOS and Windows they would be one directory", ErrBadName, name, other)
			}
		}
		dir = dir + string(os.PathSeparator) + seg
	}
	return nil
}
