package engine

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/maintain"
	"github.com/pcache/pcache/internal/manifest/record"
)

// unusable says why entry e would not be served, or "" if it would: what
// a call's serve would find (decodeEntry), and out-file contents that are
// gone (which a call would find restoring them).
func (c *Fn) unusable(e *record.Entry, dst Sink) string {
	if c.expired(e) {
		return fmt.Sprintf("expired: stored %s, more than Expire(%v) ago; a call computes it again",
			time.Unix(0, e.Time).Local().Format(time.RFC3339), c.expire)
	}
	if oc, r := c.decodeEntry(e, dst, false); oc != served {
		return r.why
	}
	for _, o := range e.Outs {
		if ok, _ := c.e.cas.Has(o.Object); !ok {
			return fmt.Sprintf("an entry exists but the contents of its out file %q are missing (a call restores them from a recorded path if one still holds them, else recomputes)", o.Arg)
		}
	}
	return ""
}

// whyMissing says why no entry of these arguments serves k.
func (c *Fn) whyMissing(k *CallKey, all []record.Entry) string {
	if newest, ok := c.m.Newest(k.Hash); ok {
		if newest.Deleted {
			return "forgotten " + time.Unix(0, newest.Time).Local().Format(time.RFC3339) + " (Forget, or pcache-fsck rm -key)"
		}
		if at := c.m.ForgottenAt(&newest); at != 0 && newest.Time <= at {
			return "forgotten with every entry of the function " + time.Unix(0, at).Local().Format(time.RFC3339) + " (ForgetAll, or pcache-fsck rm NAME)"
		}
	}
	if k.Bytes == nil {
		return "no entry with this key; the arguments encode to more than " + keying.MaxKeyText + ", so only their hash is kept and stored calls cannot be compared with this one"
	}
	for _, e := range all {
		if bytes.Equal(e.Key, k.Bytes) {
			return "an entry with exactly these arguments exists for another result type or codec: the function's result type changed since it was stored (entries of another type are never decoded into this one)"
		}
	}
	if len(all) == 0 {
		return "the function has no entries yet"
	}
	return fmt.Sprintf("no entry with these arguments (the function has %d)", len(all))
}

// Explained is what Explain found for one call.
type Explained struct {
	Hit     bool
	Remote  bool   // the hit would come from the remote
	Reason  string // one sentence: why it hits, or why it misses
	Nearest []maintain.Near
}

// Explain says whether a call of k would be served (decoding into dst to
// find out, changing nothing) and, when not, why, with up to nearest
// stored calls most like it. It reads every entry of the function.
func (c *Fn) Explain(ctx context.Context, k *CallKey, dst Sink, nearest int) (Explained, error) {
	if err := c.m.Refresh(); err != nil {
		return Explained{}, Errorf("%s: explain: %w", c.name, err)
	}
	local := "" // why the local entry is not served
	if e, ok, _ := c.m.Peek(k.Hash); ok {
		if local = c.unusable(&e, dst); local == "" {
			return Explained{Hit: true, Reason: "stored " + time.Unix(0, e.Time).Local().Format(time.RFC3339)}, nil
		}
		if !c.expired(&e) {
			return Explained{Reason: local}, nil // a call computes it again without asking the remote
		}
	} else if e, ok := c.legacyEntry(k); ok && !c.expired(&e) && c.legacyFits(&e, dst) {
		return Explained{Hit: true, Reason: "stored by an earlier pcache release (before entries recorded their result type); it decodes exactly as this result type"}, nil
	}
	if t := c.e.remote; t != nil {
		if e, ok := t.Lookup(ctx, c.name, k.Hash, false); ok && !c.m.Shadows(&e) && !c.expired(&e) {
			return Explained{Hit: true, Remote: true, Reason: "not in the local cache; the remote " + t.String() + " has it (a call fetches it)"}, nil
		}
	}
	if local != "" {
		return Explained{Reason: local}, nil // expired, and the remote has nothing fresher
	}
	var all []record.Entry
	if err := c.m.Iterate(func(e record.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		all = append(all, e)
		return nil
	}); err != nil {
		return Explained{}, Errorf("%s: explain: %w", c.name, err)
	}
	x := Explained{Reason: c.whyMissing(k, all)}
	if k.Bytes != nil {
		near, err := maintain.NearestEntries(k.Bytes, all, nearest)
		if err != nil {
			return x, Errorf("%s: explain: %w", c.name, err)
		}
		x.Nearest = near
	}
	return x, nil
}
