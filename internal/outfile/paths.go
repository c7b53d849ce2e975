package outfile

import "slices"

// withPath returns rec with pr as its most recent path: any older record of
// the same path is dropped and only the MaxPaths most recent are kept. The
// result never shares rec.Paths' backing array. changed reports whether the
// list differs from rec's.
func withPath(rec record, pr pathRecord) (out record, changed bool) {
	paths := make([]pathRecord, 0, len(rec.Paths)+1)
	for _, p := range rec.Paths {
		if p.Path != pr.Path {
			paths = append(paths, p)
		}
	}
	paths = append(paths, pr)
	if len(paths) > MaxPaths {
		paths = slices.Clone(paths[len(paths)-MaxPaths:])
	}
	changed = !slices.Equal(paths, rec.Paths)
	rec.Paths = paths
	return rec, changed
}

// findPath returns the record of path in paths, if any. A hostile list may
// hold several; the most recent wins.
func findPath(paths []pathRecord, path string) (pathRecord, bool) {
	for i := len(paths) - 1; i >= 0; i-- {
		if paths[i].Path == path {
			return paths[i], true
		}
	}
	return pathRecord{}, false
}
