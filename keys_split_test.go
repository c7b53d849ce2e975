package pcache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/pcache/pcache"
)

// splitArgs holds one argument of each kind whose values a function can tell
// apart although they were keyed alike before key-format 1 revision 2.
type splitArgs struct {
	When time.Time
	X    float64
	V    any
	Tags []string
}

// describe is what the wrapped function computes: it shows every
// distinction (the zone through Format, the sign of zero through 1/x, the
// dynamic type through %T, nil and empty through JSON).
func describe(a splitArgs) string {
	tags, _ := json.Marshal(a.Tags)
	return fmt.Sprintf("%s %v %T %s", a.When.Format(time.RFC3339), 1/a.X, a.V, tags)
}

// TestKeysSplitDistinguishableArguments calls a function once for each of
// two arguments that it can tell apart, and checks that each call computed
// and got its own result; a second round is served from the cache.
func TestKeysSplitDistinguishableArguments(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	calls := 0
	f, err := pcache.Wrap(s, "t/split", func(_ context.Context, a splitArgs) (string, error) {
		calls++
		return describe(a), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ny := time.FixedZone("EST", -5*3600)
	at := time.Date(2024, 1, 15, 14, 30, 0, 0, time.UTC)
	base := splitArgs{When: at, X: 1, V: 1, Tags: nil}
	with := func(change func(*splitArgs)) splitArgs {
		a := base
		change(&a)
		return a
	}
	pairs := []struct {
		name string
		a, b splitArgs
	}{
		{"time zone", base, with(func(a *splitArgs) { a.When = at.In(ny) })},
		{"signed zero", with(func(a *splitArgs) { a.X = 0 }), with(func(a *splitArgs) { a.X = math.Copysign(0, -1) })},
		{"type in any", with(func(a *splitArgs) { a.V = int64(1) }), with(func(a *splitArgs) { a.V = uint8(1) })},
		{"nil vs empty", base, with(func(a *splitArgs) { a.Tags = []string{} })},
	}
	for round := 0; round < 2; round++ {
		for _, p := range pairs {
			before := calls
			ra, err := f.Call(ctx, p.a)
			if err != nil {
				t.Fatal(err)
			}
			rb, err := f.Call(ctx, p.b)
			if err != nil {
				t.Fatal(err)
			}
			if ra != describe(p.a) || rb != describe(p.b) {
				t.Errorf("%s: got %q and %q, want %q and %q", p.name, ra, rb, describe(p.a), describe(p.b))
			}
			if ra == rb {
				t.Errorf("%s: both calls returned %q", p.name, ra)
			}
			if round > 0 && calls != before {
				t.Errorf("%s: %d computations in the second round, want 0", p.name, calls-before)
			}
		}
	}
	// Seven distinct arguments: base appears in two pairs.
	if calls != 7 {
		t.Errorf("%d computations, want 7", calls)
	}
}

// TestInstantArgMergesZones: with InstantArg (or the ,instant tag) times that
// are Equal share an entry whatever their zone.
func TestInstantArgMergesZones(t *testing.T) {
	t.Parallel()
	type when struct {
		At    time.Time
		Until time.Time `pcache:",instant"`
	}
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	calls := 0
	f, err := pcache.Wrap(s, "t/instant", func(_ context.Context, a when) (string, error) {
		calls++
		return strconv.FormatInt(a.Until.Sub(a.At).Milliseconds(), 10), nil
	}, pcache.InstantArg("At"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 1, 15, 14, 30, 0, 0, time.UTC)
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("EST", -5*3600), time.FixedZone("CET", 3600)} {
		if got := mustCall(t, f, ctx, when{at.In(loc), at.Add(time.Hour).In(loc)}); got != "3600000" {
			t.Errorf("%v: got %s", loc, got)
		}
	}
	if calls != 1 {
		t.Errorf("%d computations, want 1", calls)
	}
	if _, err := pcache.Wrap(s, "t/instant-bad", func(_ context.Context, a xyz) (int, error) { return 0, nil }, pcache.InstantArg("X")); err == nil {
		t.Error("InstantArg on an int argument was accepted")
	}
}
