package codec

import "errors"

// Blob is the codec of results stored as a streamed object of their own
// (pcache.Blob): the engine writes and reads the object itself, so there
// are no bytes to marshal.
type Blob struct{}

// BlobName is the codec name recorded with a Blob entry.
const BlobName = "blob"

var errBlob = errors.New("a Blob is stored as an object of its own, not encoded")

func (Blob) Name() string                { return BlobName }
func (Blob) Marshal(any) ([]byte, error) { return nil, errBlob }
func (Blob) Unmarshal([]byte, any) error { return errBlob }
