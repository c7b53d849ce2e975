package manifest

// Peek is Lookup without the refresh on a miss: it consults only the
// in-memory view. Callers that look up many keys at once (batches) call
// Refresh once and then Peek each key, instead of one refresh per miss.
func (m *Manifest) Peek(h [32]byte) (Entry, bool, error) {
	if m.closed.Load() {
		return Entry{}, false, ErrClosed
	}
	var r rec
	if m.lookupView(&h, &r) && !r.e.Deleted {
		return r.e, true, nil
	}
	return Entry{}, false, nil
}
