package outfile

import "github.com/pcache/pcache/manifest"

// Short names for the manifest's record types inside this package.
type (
	record     = manifest.OutFile
	pathRecord = manifest.PathRecord
)
