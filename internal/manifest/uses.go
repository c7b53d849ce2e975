package manifest

import "github.com/pcache/pcache/internal/manifest/record"

// Touch records a use of e, an entry the view served just now, given as it
// is but for a later Used: one record appended to this Manifest's journal
// before Touch returns, so a process that exits without closing keeps the
// use, and gc's age and size limits see which entries are in use. A use
// record resolves as the entry it was made from, or loses to a newer record
// of its key (record.Newer ranks by Time, which a use keeps): it never takes
// an entry away from a view, so it skips Append's removal check.
func (m *Manifest) Touch(e record.Entry) error {
	if m.opts.ReadOnly {
		return ErrReadOnly
	}
	rotated, err := m.appendRecs([]record.Entry{e}, nil)
	if rotated {
		m.compactAsync()
	}
	return err
}
