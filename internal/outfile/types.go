package outfile

import wire "github.com/pcache/pcache/internal/manifest/record"

// File is what a cache keeps of one out-file argument of a call: its
// contents (an object) and where it was written. It is the record an entry
// holds (record.OutFile): one type from capture to the manifest and back.
// This package owns only the content and the paths.
type File = wire.OutFile

// Path is one place an out file was written, with the mtime and size it had
// right after the write (so a hit can tell the file is untouched).
type Path = wire.PathRecord

// Short names inside this package.
type (
	record     = File
	pathRecord = Path
)
