package pcache_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache"
)

type trainArgs struct {
	Dataset string
	Epochs  int
	Rate    float64
}

func trainFunc(computes *atomic.Int64) func(context.Context, trainArgs) (string, error) {
	return func(_ context.Context, a trainArgs) (string, error) {
		computes.Add(1)
		return fmt.Sprintf("%s/%d/%g", a.Dataset, a.Epochs, a.Rate), nil
	}
}

// TestForget: Forget makes exactly that call miss; ForgetAll every call;
// the tombstones survive copying the cache and reach a remote.
func TestForget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var n atomic.Int64
	url := "file://" + t.TempDir()
	s := openStore(t, t.TempDir(), pcache.Remote(url))
	f := pcache.MustWrap(s, "control/forget", trainFunc(&n))
	a, b := trainArgs{"cifar", 10, 0.1}, trainArgs{"cifar", 12, 0.1}
	mustCall(t, f, ctx, a)
	mustCall(t, f, ctx, b)
	if err := f.Forget(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := f.Forget(ctx, trainArgs{"never", 1, 1}); err != nil {
		t.Fatalf("forgetting a call that has no entry: %v", err)
	}
	n.Store(0)
	mustCall(t, f, ctx, b)
	if n.Load() != 0 {
		t.Fatal("Forget(a) made b miss")
	}
	mustCall(t, f, ctx, a)
	if n.Load() != 1 {
		t.Fatalf("after Forget(a), a computed %d times, want 1", n.Load())
	}
	if err := f.ForgetAll(ctx); err != nil {
		t.Fatal(err)
	}
	n.Store(0)
	mustCall(t, f, ctx, a)
	mustCall(t, f, ctx, b)
	if n.Load() != 2 {
		t.Fatalf("after ForgetAll, %d of 2 calls computed", n.Load())
	}
	// A later forget reaches another machine through the remote, even one
	// that had fetched the entry already.
	closeWithin(t, s, 20*time.Second)
	s2 := openStore(t, t.TempDir(), pcache.Remote(url))
	f2 := pcache.MustWrap(s2, "control/forget", trainFunc(&n))
	n.Store(0)
	mustCall(t, f2, ctx, a)
	if n.Load() != 0 {
		t.Fatal("the second machine did not get a from the remote")
	}
	s3 := openStore(t, t.TempDir(), pcache.Remote(url), pcache.RemoteRefresh(time.Nanosecond))
	f3 := pcache.MustWrap(s3, "control/forget", trainFunc(&n))
	if err := f3.Forget(ctx, b); err != nil {
		t.Fatal(err)
	}
	closeWithin(t, s3, 20*time.Second)
	s4 := openStore(t, t.TempDir(), pcache.Remote(url))
	f4 := pcache.MustWrap(s4, "control/forget", trainFunc(&n))
	n.Store(0)
	mustCall(t, f4, ctx, b)
	mustCall(t, f4, ctx, a)
	if n.Load() != 1 {
		t.Fatalf("a fourth machine computed %d calls; want only the forgotten one", n.Load())
	}
}

func TestForgetReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var n atomic.Int64
	s := openStore(t, dir)
	mustCall(t, pcache.MustWrap(s, "control/ro", trainFunc(&n)), context.Background(), trainArgs{})
	s.Close()
	ro := openStore(t, dir, pcache.ReadOnly())
	f := pcache.MustWrap(ro, "control/ro", trainFunc(&n))
	if err := f.Forget(context.Background(), trainArgs{}); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Forget on a read-only store: %v", err)
	}
}

// TestExplain: a call that differs from a stored one in one argument is
// explained by that argument and both values; hits, forgotten entries,
// another result type and a missing object are each said.
func TestExplain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	var n atomic.Int64
	s := openStore(t, dir)
	f := pcache.MustWrap(s, "control/explain", trainFunc(&n))
	stored := trainArgs{"cifar", 10, 0.1}
	mustCall(t, f, ctx, stored)
	mustCall(t, f, ctx, trainArgs{"mnist", 3, 0.5})

	x, err := f.Explain(ctx, stored)
	if err != nil || !x.Hit || x.Source != pcache.SourceLocal {
		t.Fatalf("Explain of a stored call: %+v, %v", x, err)
	}
	x, err = f.Explain(ctx, trainArgs{"cifar", 12, 0.1})
	if err != nil || x.Hit || len(x.Nearest) == 0 {
		t.Fatalf("Explain of a near miss: %+v, %v", x, err)
	}
	if d := x.Nearest[0].Differences; len(d) != 1 || d[0].String() != "Epochs: 12 (stored: 10)" {
		t.Fatalf("nearest differences: %v", d)
	}
	if s := x.String(); !strings.Contains(s, "miss") || !strings.Contains(s, "Epochs: 12 (stored: 10)") || !strings.Contains(s, `Dataset="cifar" Epochs=12`) {
		t.Fatalf("Explanation.String():\n%s", s)
	}
	if n.Load() != 2 {
		t.Fatalf("Explain computed something (%d computes)", n.Load())
	}

	f.Forget(ctx, stored)
	if x, _ := f.Explain(ctx, stored); x.Hit || !strings.Contains(x.Reason, "forgotten") {
		t.Fatalf("Explain of a forgotten call: %+v", x)
	}
	mustCall(t, f, ctx, stored)

	// Another result type under the same name and arguments.
	g := pcache.MustWrap(s, "control/explain", func(_ context.Context, a trainArgs) (int, error) { return a.Epochs, nil })
	if x, _ := g.Explain(ctx, stored); x.Hit || !strings.Contains(x.Reason, "another result type") {
		t.Fatalf("Explain with a changed result type: %+v", x)
	}
	// A version change.
	h := pcache.MustWrap(s, "control/explain", trainFunc(&n), pcache.Version("2"))
	if x, _ := h.Explain(ctx, stored); x.Hit || len(x.Nearest) == 0 || x.Nearest[0].Differences[0].Name != "version" {
		t.Fatalf("Explain after a Version change: %+v", x)
	}
	// The object gone.
	if err := os.RemoveAll(filepath.Join(dir, "objects")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openStore(t, dir)
	f2 := pcache.MustWrap(s2, "control/explain", trainFunc(&n))
	if x, _ := f2.Explain(ctx, stored); x.Hit || !strings.Contains(x.Reason, "missing") {
		t.Fatalf("Explain with the object gone: %+v", x)
	}
}

// TestOnCall: the per-call hook says hit or miss, the source, the compute
// time and the size; debug logging says the same.
func TestOnCall(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := openStore(t, t.TempDir(), pcache.WithLogger(logger))
	f := pcache.MustWrap(s, "control/oncall", func(_ context.Context, n int) (string, error) {
		return strings.Repeat("x", n), nil
	})
	var mu sync.Mutex
	var infos []pcache.CallInfo
	ctx := pcache.OnCall(context.Background(), func(i pcache.CallInfo) {
		mu.Lock()
		infos = append(infos, i)
		mu.Unlock()
	})
	mustCall(t, f, ctx, 100)
	mustCall(t, f, ctx, 100)
	f.Call(pcache.NoCache(ctx), 5)
	if len(infos) != 3 {
		t.Fatalf("%d reports for 3 calls", len(infos))
	}
	miss, hit, off := infos[0], infos[1], infos[2]
	key, _ := f.Key(100)
	if miss.Hit || miss.Source != pcache.SourceComputed || !miss.Stored || miss.Bytes < 100 || hex.EncodeToString(miss.Key[:]) != key || miss.Function != "control/oncall" {
		t.Fatalf("miss: %+v", miss)
	}
	if !hit.Hit || hit.Source != pcache.SourceLocal || hit.Bytes != miss.Bytes || hit.ComputeTime != 0 {
		t.Fatalf("hit: %+v", hit)
	}
	if off.Source != pcache.SourceOff {
		t.Fatalf("off: %+v", off)
	}
	out := logs.String()
	if !strings.Contains(out, "level=DEBUG msg=\"pcache: miss\"") || !strings.Contains(out, "level=DEBUG msg=\"pcache: hit\"") {
		t.Fatalf("debug log:\n%s", out)
	}
}

// TestAutomaticLimits: MaxSize trims in the background at Open, at most
// once a day, evicting the least recently used entries.
func TestAutomaticLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	clock := func() time.Time { return now }
	big := func(_ context.Context, n int) ([]byte, error) { return make([]byte, 100<<10+n), nil }
	s := openStore(t, dir, pcache.WithClock(clock))
	f := pcache.MustWrap(s, "control/limits", big)
	for n := range 10 {
		now = now.Add(2 * time.Hour) // distinct, hour-apart uses
		mustCall(t, f, ctx, n)
	}
	s.Close()
	now = now.Add(2 * time.Hour)
	var logs syncBuffer
	s = openStore(t, dir, pcache.WithClock(clock), pcache.MaxSize(350<<10), pcache.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	s.Close() // waits for the trim
	if !strings.Contains(logs.String(), "automatic trim") {
		t.Fatalf("no trim logged:\n%s", logs.String())
	}
	var n atomic.Int64
	s = openStore(t, dir, pcache.WithClock(clock), pcache.MaxSize(350<<10))
	g := pcache.MustWrap(s, "control/limits", func(ctx context.Context, k int) ([]byte, error) { n.Add(1); return big(ctx, k) })
	for k := range 10 {
		mustCall(t, g, pcache.WithMode(ctx, pcache.ModeReadOnly), k)
	}
	if n.Load() != 7 {
		t.Fatalf("after a trim to 350 KiB of ten 100 KiB entries, %d were recomputed; want the 7 least recently used", n.Load())
	}
}

// TestForgetAllIsScopedToResultType (issue 22, item 8): two functions that
// share a name but not a result type keep their entries apart, and one's
// ForgetAll leaves the other's entries alone: in the process, in another
// process that opens the cache later, after gc compacts the manifests, and
// on a machine that gets the tombstones through a remote.
func TestForgetAllIsScopedToResultType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var gen atomic.Int64
	gen.Store(1)
	var strs, ints atomic.Int64
	wrap := func(s *pcache.Store) (*pcache.Func[int, string], *pcache.Func[int, int]) {
		return pcache.MustWrap(s, "control/shared-name", func(_ context.Context, n int) (string, error) {
				strs.Add(1)
				return fmt.Sprintf("%d in generation %d", n, gen.Load()), nil
			}), pcache.MustWrap(s, "control/shared-name", func(_ context.Context, n int) (int, error) {
				ints.Add(1)
				return int(gen.Load())*1000 + n, nil
			})
	}
	url := "file://" + t.TempDir()
	dir := t.TempDir()
	s := openStore(t, dir, pcache.Remote(url))
	fs, fi := wrap(s)
	for n := range 3 {
		mustCall(t, fs, ctx, n)
		mustCall(t, fi, ctx, n)
	}
	// A machine that has both functions' entries before the forget.
	other := openStore(t, t.TempDir(), pcache.Remote(url), pcache.RemoteRefresh(50*time.Millisecond))
	os2, oi2 := wrap(other)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for n := range 3 {
		mustCall(t, os2, pcache.ErrorOnMiss(ctx), n)
		mustCall(t, oi2, pcache.ErrorOnMiss(ctx), n)
	}

	gen.Store(2)
	if err := fs.ForgetAll(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(where string, fs *pcache.Func[int, string], fi *pcache.Func[int, int]) {
		t.Helper()
		for n := range 3 {
			if v, err := fi.Call(pcache.ErrorOnMiss(ctx), n); err != nil || v != 1000+n {
				t.Fatalf("%s: the int function's %d after the string function's ForgetAll: %d, %v", where, n, v, err)
			}
		}
		strs.Store(0)
		for n := range 3 {
			if v := mustCall(t, fs, ctx, n); v != fmt.Sprintf("%d in generation 2", n) {
				t.Fatalf("%s: the string function's %d after its ForgetAll: %q", where, n, v)
			}
		}
	}
	check("same process", fs, fi)
	if _, err := s.GC(ctx, pcache.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	gen.Store(3) // what the string function computes now tells a miss from a hit
	s = openStore(t, dir)
	fs, fi = wrap(s)
	strs.Store(0)
	check("after gc, in a new process", fs, fi)
	if n := strs.Load(); n != 0 {
		t.Fatalf("the string function recomputed %d entries after gc", n)
	}

	// The other machine: the tombstones arrive through the remote.
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := mustCall(t, os2, ctx, 0)
		if v != "0 in generation 1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other machine still serves the forgotten entry")
		}
		time.Sleep(10 * time.Millisecond) // polling: the delay is the remote refresh period
	}
	for n := range 3 {
		if v, err := oi2.Call(pcache.ErrorOnMiss(ctx), n); err != nil || v != 1000+n {
			t.Fatalf("other machine: the int function's %d: %d, %v", n, v, err)
		}
	}
}
