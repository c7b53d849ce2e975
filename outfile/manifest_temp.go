package outfile

import "github.com/pcache/pcache/cas"

// TEMP until manifest lands: mirrors of manifest.OutFile and
// manifest.PathRecord.

// OutFile is manifest.OutFile.
type OutFile struct {
	Arg    string
	Object cas.ID
	Size   int64
	Mode   uint32
	Paths  []PathRecord
}

// PathRecord is manifest.PathRecord.
type PathRecord struct {
	Path    string
	MtimeNs int64
	Size    int64
}

type (
	record     = OutFile
	pathRecord = PathRecord
)
