package manifest

import "github.com/pcache/pcache/internal/manifest/record"

// rec is a decoded record with the payload bytes it came from, or a lazy
// one: only e.KeyHash is set until load decodes raw.
type rec struct {
	e    record.Entry
	raw  []byte
	lazy *segSource // the source to decode and report through, while lazy
	off  int64      // the record's offset in that source's file
}

// load decodes a lazy record; false (and reported) if it is damaged.
func (r *rec) load() bool {
	if r.lazy == nil {
		return true
	}
	return r.lazy.load(r)
}
