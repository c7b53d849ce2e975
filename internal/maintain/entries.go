package maintain

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// EntryInfo describes one live entry of a function.
type EntryInfo struct {
	KeyHash  string     `json:"key_hash"` // what pcache.Func.Key returns and rm -key takes
	Key      string     `json:"key"`      // the call's arguments, rendered
	Result   string     `json:"result,omitempty"`
	Size     int64      `json:"size"`
	Codec    string     `json:"codec,omitempty"`
	OutFiles []OutInfo  `json:"out_files,omitempty"`
	Created  *time.Time `json:"created,omitempty"`
	LastUsed *time.Time `json:"last_used,omitempty"`
}

// OutInfo describes one out file of an entry.
type OutInfo struct {
	Arg    string   `json:"arg"`
	Object string   `json:"object"`
	Size   int64    `json:"size"`
	Paths  []string `json:"paths,omitempty"` // most recent last
}

// ValidPrefix checks a key prefix as ls and rm take it: 4 to 64 lowercase
// hex digits; its error wraps ErrBadKeyPrefix.
func ValidPrefix(k string) error {
	if len(k) < 4 || len(k) > 64 || !layout.IsLowerHex(k, len(k)) {
		return fmt.Errorf("key %q: %w", k, ErrBadKeyPrefix)
	}
	return nil
}

// matchOne returns the one entry of es (of function name) whose key hash
// starts with prefix; none, or more than one, is an error naming them.
func matchOne(name string, es []record.Entry, prefix string) (record.Entry, error) {
	var matches []record.Entry
	for _, en := range es {
		if strings.HasPrefix(hex.EncodeToString(en.KeyHash[:]), prefix) {
			matches = append(matches, en)
		}
	}
	switch {
	case len(matches) == 0:
		return record.Entry{}, fmt.Errorf("no entry of %s has a key hash starting with %s", name, prefix)
	case len(matches) > 1:
		var hs []string
		for _, m := range matches {
			hs = append(hs, ShortHash(m.KeyHash))
		}
		if len(hs) > 5 {
			hs = append(hs[:5], "...")
		}
		return record.Entry{}, fmt.Errorf("key prefix %s is ambiguous: %d entries of %s match (%s)",
			prefix, len(matches), name, strings.Join(hs, ", "))
	}
	return matches[0], nil
}

func matchesAny(h [32]byte, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	s := hex.EncodeToString(h[:])
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// List describes the live entries of function name whose key hashes start
// with one of prefixes (all when none), oldest first.
func (c *Cache) List(name string, prefixes []string) ([]EntryInfo, error) {
	if err := c.HasFunction(name); err != nil {
		return nil, err
	}
	es, err := c.Entries(name)
	if err != nil {
		return nil, err
	}
	out := []EntryInfo{}
	for _, e := range es {
		if matchesAny(e.KeyHash, prefixes) {
			out = append(out, describeEntry(e))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Created, out[j].Created
		if a == nil || b == nil {
			return b != nil
		}
		return a.Before(*b)
	})
	return out, nil
}

// renderKey renders an entry's arguments by name on one line
// (Dataset="cifar" Epochs=10), or says why it cannot.
func renderKey(e record.Entry) string {
	if len(e.Key) == 0 {
		return "(key not kept: its arguments encode to more than " + keying.MaxKeyText + ")"
	}
	d, err := keying.Describe(e.Key)
	if err != nil {
		return "(undecodable key: " + err.Error() + ")"
	}
	return d.String()
}

func describeEntry(e record.Entry) EntryInfo {
	le := EntryInfo{
		KeyHash: hex.EncodeToString(e.KeyHash[:]),
		Key:     renderKey(e),
		Size:    e.Size,
		Codec:   e.Codec,
	}
	if e.Result != ([32]byte{}) {
		le.Result = hex.EncodeToString(e.Result[:])
	}
	if t := entryTime(e.Time); !t.IsZero() {
		le.Created = &t
	}
	if t := entryTime(e.LastUse()); !t.IsZero() {
		le.LastUsed = &t
	}
	for _, o := range e.Outs {
		lo := OutInfo{Arg: o.Arg, Object: hex.EncodeToString(o.Object[:]), Size: o.Size}
		for _, p := range o.Paths {
			lo.Paths = append(lo.Paths, p.Path)
		}
		le.OutFiles = append(le.OutFiles, lo)
	}
	return le
}

// RemoveReport is what Remove dropped (or would drop).
type RemoveReport struct {
	Dir      string      `json:"dir"`
	Name     string      `json:"name"`
	Function bool        `json:"whole_function"` // the whole function was dropped
	DryRun   bool        `json:"dry_run"`
	Removed  []EntryInfo `json:"removed"`
}

// Remove drops every entry of function name (no keys), or the entries whose
// key hashes keys name (full hashes or prefixes of at least 4 digits). A
// prefix that matches more than one entry, or none, is an error and nothing
// is dropped. Dropping is a tombstone record (for a whole function, one
// function-wide tombstone), so it is safe beside running writers and
// survives copying caches into each other; no file is rewritten. Objects
// stay for gc.
func (c *Cache) Remove(ctx context.Context, name string, keys []string, dryRun bool) (*RemoveReport, error) {
	if err := c.HasFunction(name); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := ValidPrefix(k); err != nil {
			return nil, err
		}
	}
	if !dryRun {
		if _, err := c.WritableObjects(); err != nil {
			return nil, err
		}
		// rm writes manifests like any writer: inside the gc turnstile, so a
		// concurrent gc sees either all of it or none of it.
		leave, err := c.Enter(ctx)
		if err != nil {
			return nil, err
		}
		defer leave()
	}
	es, err := c.Entries(name)
	if err != nil {
		return nil, err
	}
	rep := &RemoveReport{Dir: c.d.Root(), Name: name, DryRun: dryRun, Removed: []EntryInfo{}}
	if len(keys) == 0 {
		rep.Function = true
		for _, en := range es {
			rep.Removed = append(rep.Removed, describeEntry(en))
		}
		if !dryRun {
			m, err := manifest.Open(c.d, name, c.ManifestOptions())
			if err != nil {
				return nil, err
			}
			err = m.ForgetAll()
			if cerr := m.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("forget function %s: %w", name, err)
			}
		}
		return rep, nil
	}
	var drop [][32]byte
	picked := map[[32]byte]bool{}
	for _, k := range keys {
		m, err := matchOne(name, es, k)
		if err != nil {
			return nil, fmt.Errorf("%w; nothing dropped", err)
		}
		if !picked[m.KeyHash] {
			picked[m.KeyHash] = true
			drop = append(drop, m.KeyHash)
			rep.Removed = append(rep.Removed, describeEntry(m))
		}
	}
	if !dryRun {
		if err := c.deleteEntries(name, drop); err != nil {
			return nil, fmt.Errorf("drop entries of %s: %w", name, err)
		}
	}
	return rep, nil
}
