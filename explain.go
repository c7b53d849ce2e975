package pcache

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/maintain"
	"github.com/pcache/pcache/internal/manifest/record"
)

// Explanation says whether a call would hit and, if not, why.
type Explanation struct {
	Function string
	Key      string // the call's key hash (Func.Key)
	Args     string // the call's arguments, rendered (Dataset="cifar" Epochs=10)
	Hit      bool
	Source   Source // where a hit would come from: SourceLocal or SourceRemote
	// Reason is one sentence: why it hits, or why it misses.
	Reason string
	// Nearest are the stored calls of the function most like this one (on
	// a miss), with how this call differs from each.
	Nearest []NearCall
}

// NearCall is a stored call of a function and how an explained call
// differs from it.
type NearCall struct {
	Key         string // the stored call's key hash (Func.Key)
	Args        string // its arguments, rendered
	Differences []Difference
}

// Difference is one argument (or "version") in which two calls differ.
type Difference struct {
	Name string // the argument; "version" for the Version
	This string // its value in the explained call ("" when absent)
	That string // in the stored call
}

// String renders d as "Epochs: 12 (stored: 10)".
func (d Difference) String() string { return keying.Difference(d).String() }

// String renders the explanation for people, over several lines.
func (x Explanation) String() string {
	var b strings.Builder
	verdict := "miss"
	if x.Hit {
		verdict = "hit"
	}
	fmt.Fprintf(&b, "%s %s: %s: %s", x.Function, x.Args, verdict, x.Reason)
	for _, n := range x.Nearest {
		fmt.Fprintf(&b, "\n  stored call %s (%s) differs in:", n.Key[:min(12, len(n.Key))], n.Args)
		for _, d := range n.Differences {
			fmt.Fprintf(&b, "\n    %s", d)
		}
	}
	return b.String()
}

// nearestShown is how many nearest stored calls an explanation lists.
const nearestShown = 3

// Explain says whether Call(ctx, args) would be served from the cache
// (without computing, restoring out files or counting anything) and, when
// not, why: no entry with these arguments (and the stored calls nearest to
// them, each with the arguments that differ and both values), an entry of
// another result type or version, an entry that was forgotten, or an entry
// whose stored object is missing or corrupt. It reads every entry of the
// function to find the nearest ones, so it is for diagnosis, not for every
// call.
func (f *Func[A, R]) Explain(ctx context.Context, args A) (Explanation, error) {
	c := f.c
	if c.s.closed.Load() {
		return Explanation{}, ErrClosed
	}
	k, err := c.key(args, false)
	if err != nil {
		return Explanation{}, err
	}
	x := Explanation{Function: c.name, Key: hex.EncodeToString(k.hash[:]), Args: "(arguments not kept: they encode to more than 64 KiB)"}
	if k.bytes != nil {
		if d, err := keying.Describe(k.bytes); err == nil {
			x.Args = d.String()
		}
	}
	if err := c.m.Refresh(); err != nil {
		return x, errorf("%s: explain: %w", c.name, err)
	}
	dst := &value[R]{codec: c.codec}
	if e, ok, _ := c.m.Peek(k.hash); ok {
		if why := c.unusable(&e, dst); why != "" {
			x.Reason = why
			return x, nil
		}
		x.Hit, x.Source = true, SourceLocal
		x.Reason = "stored " + time.Unix(0, e.Time).Local().Format(time.RFC3339)
		return x, nil
	}
	if e, ok := c.legacyEntry(&k); ok && !c.expired(&e) {
		if c.legacyFits(&e, dst) {
			x.Hit, x.Source = true, SourceLocal
			x.Reason = "stored by an earlier pcache release (before entries recorded their result type); it decodes exactly as this result type"
			return x, nil
		}
	}
	if c.s.remote != nil {
		if e, ok := c.s.remote.Lookup(ctx, c.name, k.hash, false); ok && !c.m.Shadows(&e) && !c.expired(&e) {
			x.Hit, x.Source = true, SourceRemote
			x.Reason = "not in the local cache; the remote " + c.s.remote.String() + " has it (a call fetches it)"
			return x, nil
		}
	}
	var all []record.Entry
	if err := c.m.Iterate(func(e record.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		all = append(all, e)
		return nil
	}); err != nil {
		return x, errorf("%s: explain: %w", c.name, err)
	}
	x.Reason = c.whyMissing(&k, all)
	if k.bytes != nil {
		near, err := maintain.NearestEntries(k.bytes, all, nearestShown)
		if err != nil {
			return x, errorf("%s: explain: %w", c.name, err)
		}
		for _, n := range near {
			nc := NearCall{Key: n.Entry.KeyHash, Args: n.Entry.Key}
			for _, d := range n.Differences {
				nc.Differences = append(nc.Differences, Difference(d))
			}
			x.Nearest = append(x.Nearest, nc)
		}
	}
	return x, nil
}

// unusable says why entry e would not be served, or "" if it would: what
// a call's serve would find (decodeEntry), and out-file contents that are
// gone (which a call would find restoring them).
func (c *core) unusable(e *record.Entry, dst sink) string {
	if c.expired(e) {
		return fmt.Sprintf("expired: stored %s, more than Expire(%v) ago; a call computes it again",
			time.Unix(0, e.Time).Local().Format(time.RFC3339), c.expire)
	}
	if oc, r := c.decodeEntry(e, dst, false); oc != served {
		return r.why
	}
	for _, o := range e.Outs {
		if ok, _ := c.s.cas.Has(o.Object); !ok {
			return fmt.Sprintf("an entry exists but the contents of its out file %q are missing (a call restores them from a recorded path if one still holds them, else recomputes)", o.Arg)
		}
	}
	return ""
}

// whyMissing says why no entry of these arguments serves k.
func (c *core) whyMissing(k *callKey, all []record.Entry) string {
	if newest, ok := c.m.Newest(k.hash); ok {
		if newest.Deleted {
			return "forgotten " + time.Unix(0, newest.Time).Local().Format(time.RFC3339) + " (Forget, or pcache-fsck rm -key)"
		}
		if at := c.m.ForgottenAt(&newest); at != 0 && newest.Time <= at {
			return "forgotten with every entry of the function " + time.Unix(0, at).Local().Format(time.RFC3339) + " (ForgetAll, or pcache-fsck rm NAME)"
		}
	}
	if k.bytes == nil {
		return "no entry with this key; the arguments encode to more than 64 KiB, so only their hash is kept and stored calls cannot be compared with this one"
	}
	for _, e := range all {
		if bytes.Equal(e.Key, k.bytes) {
			return "an entry with exactly these arguments exists for another result type or codec: the function's result type changed since it was stored (entries of another type are never decoded into this one)"
		}
	}
	if len(all) == 0 {
		return "the function has no entries yet"
	}
	return fmt.Sprintf("no entry with these arguments (the function has %d)", len(all))
}
