package manifest

import "github.com/pcache/pcache/internal/manifest/record"

// Touch records a use of each of es, entries the view served just now,
// given as they are but for a later Used: records appended to this
// Manifest's journal with one write before Touch returns, so a process that
// exits without closing keeps the uses, and gc's age and size limits see
// which entries are in use. A use record resolves as the entry it was made
// from, or loses to a newer record of its key (record.Newer ranks by Time,
// which a use keeps): it never takes an entry away from a view, so it skips
// Append's removal check.
func (m *Manifest) Touch(es ...record.Entry) error {
	if m.opts.ReadOnly {
		return ErrReadOnly
	}
	if len(es) == 0 {
		return nil
	}
	return m.appendRecs(es, nil)
}
