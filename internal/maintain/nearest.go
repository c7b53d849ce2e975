package maintain

import (
	"fmt"
	"sort"

	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/manifest/record"
)

// Near is a stored entry and how a call's key differs from it.
type Near struct {
	Entry       EntryInfo           `json:"entry"`
	Differences []keying.Difference `json:"differences"`
}

// NearestEntries returns up to n of entries whose keys differ least from
// the canonical key target (Key.Bytes of a call), fewest differing
// arguments first, newest first among equals. Entries whose key was not
// kept, or does not decode, are left out; so is an entry whose key equals
// target exactly (it is the call itself).
func NearestEntries(target []byte, entries []record.Entry, n int) ([]Near, error) {
	want, err := keying.Describe(target)
	if err != nil {
		return nil, err
	}
	type cand struct {
		e    record.Entry
		diff []keying.Difference
	}
	var cands []cand
	for _, e := range entries {
		if len(e.Key) == 0 || e.Deleted {
			continue
		}
		d, err := keying.Describe(e.Key)
		if err != nil {
			continue
		}
		diff := keying.Diff(want, d)
		if len(diff) == 0 {
			continue
		}
		cands = append(cands, cand{e, diff})
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if len(cands[i].diff) != len(cands[j].diff) {
			return len(cands[i].diff) < len(cands[j].diff)
		}
		return cands[i].e.Time > cands[j].e.Time
	})
	if len(cands) > n {
		cands = cands[:n]
	}
	out := make([]Near, len(cands))
	for i, c := range cands {
		out[i] = Near{Entry: describeEntry(c.e), Differences: c.diff}
	}
	return out, nil
}

// Diff returns the entries of function name nearest to the entry whose key
// hash starts with prefix (see NearestEntries), and that entry.
func (c *Cache) Diff(name, prefix string, n int) (EntryInfo, []Near, error) {
	if err := c.HasFunction(name); err != nil {
		return EntryInfo{}, nil, err
	}
	es, err := c.Entries(name)
	if err != nil {
		return EntryInfo{}, nil, err
	}
	e, err := matchOne(name, es, prefix)
	if err != nil {
		return EntryInfo{}, nil, fmt.Errorf("diff: %w", err)
	}
	if len(e.Key) == 0 {
		return EntryInfo{}, nil, fmt.Errorf("diff %s: the entry's key was not kept (its arguments encode to more than %s)", name, keying.MaxKeyText)
	}
	near, err := NearestEntries(e.Key, es, n)
	return describeEntry(e), near, err
}
