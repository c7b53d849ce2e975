package pcache

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/pcache/pcache/internal/engine"
	"github.com/pcache/pcache/internal/keying"
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

// String renders d as "Epochs: 12 (stored: 10)".
func (d Difference) String() string { return keying.Difference(d).String() }

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
	return f.u.explain(ctx, args, newValue[R](&f.u))
}

// explain explains the call with args; dst is a sink of the function's
// result type.
func (u *untyped) explain(ctx context.Context, args any, dst engine.Sink) (Explanation, error) {
	c := u.c
	if c.Closed() {
		return Explanation{}, ErrClosed
	}
	k, err := c.Key(args, false)
	if err != nil {
		return Explanation{}, err
	}
	x := Explanation{Function: c.Name(), Key: hex.EncodeToString(k.Hash[:]), Args: "(arguments not kept: they encode to more than " + keying.MaxKeyText + ")"}
	if k.Bytes != nil {
		if d, err := keying.Describe(k.Bytes); err == nil {
			x.Args = d.String()
		}
	}
	xe, err := c.Explain(ctx, &k, dst, nearestShown)
	if err != nil {
		return x, err
	}
	x.Hit, x.Reason = xe.Hit, xe.Reason
	if x.Hit {
		x.Source = SourceLocal
		if xe.Remote {
			x.Source = SourceRemote
		}
	}
	for _, n := range xe.Nearest {
		nc := NearCall{Key: n.Entry.KeyHash, Args: n.Entry.Key}
		for _, d := range n.Differences {
			nc.Differences = append(nc.Differences, Difference(d))
		}
		x.Nearest = append(x.Nearest, nc)
	}
	return x, nil
}
