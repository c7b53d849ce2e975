package outfile

import "github.com/pcache/pcache/internal/cas"

// File is what a cache keeps of one out-file argument of a call: its
// contents (an object) and where it was written. The caller records it with
// the call's entry; this package owns only the content and the paths.
type File struct {
	Arg    string // argument name
	Object cas.ID // the file's contents in the object store
	Size   int64  // contents size in bytes
	Mode   uint32 // permission bits to restore
	Paths  []Path // absolute paths it was written to, most recent last (at most MaxPaths)
}

// Path is one place an out file was written, with the mtime and size it had
// right after the write (so a hit can tell the file is untouched).
type Path struct {
	Path    string // absolute path written
	MtimeNs int64  // its mtime (unix ns) after the write
	Size    int64  // its size after the write
}

// Short names inside this package.
type (
	record     = File
	pathRecord = Path
)
