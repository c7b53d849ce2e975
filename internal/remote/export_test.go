package remote

// What the external tests (package remote_test, which may import backend
// packages such as remote/s3, which import this one) use of the package's
// insides.

var (
	GetAll     = getAll
	ErrStalled = errStalled
)

const MaxDamagedPerRefresh = maxDamagedPerRefresh

// IndexFile is the key of one of a function's index files and the most
// bytes a reader takes of it.
type IndexFile struct {
	Key   string
	Limit int64
}

// IndexFiles lists one index file of each kind of function name.
func IndexFiles(name string) []IndexFile {
	return []IndexFile{{headKey(name), maxHead}, {logKey(name, 1), maxLogEntry}, {checkpointKey(name, 1), maxCheckpoint}, {segmentKey(name, "x"), maxSegment}}
}
