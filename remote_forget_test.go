package pcache_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/remote"
	"github.com/pcache/pcache/internal/remotetest"
)

// TestRemoteForgetReachesEveryMachine (issue 22, item 1): machine P
// forgets an entry (Forget, ForgetAll) or replaces it (refresh mode) after
// machine Q fetched it into its local cache; Q, a long-running process that
// only hits locally, stops serving the old value within a few refresh
// periods, and serves the new one (computed, or fetched from P) instead.
func TestRemoteForgetReachesEveryMachine(t *testing.T) {
	t.Parallel()
	for _, kind := range remoteKinds {
		for _, how := range []string{"Forget", "ForgetAll", "refresh"} {
			t.Run(kind+"/"+how, func(t *testing.T) {
				ctx := context.Background()
				url := remoteURL(t, kind)
				var gen atomic.Int64
				gen.Store(1)
				fn := func(_ context.Context, n int) (string, error) {
					return fmt.Sprintf("%d computed in generation %d", n, gen.Load()), nil
				}
				const every = 50 * time.Millisecond
				p := openStore(t, t.TempDir(), pcache.Remote(url), pcache.RemoteRefresh(every), pcache.WithLogger(quiet()))
				q := openStore(t, t.TempDir(), pcache.Remote(url), pcache.RemoteRefresh(every), pcache.WithLogger(quiet()))
				fp := pcache.MustWrap(p, "forget/reach", fn)
				fq := pcache.MustWrap(q, "forget/reach", fn)
				old := mustCall(t, fp, ctx, 1)
				mustCall(t, fp, ctx, 2)
				if err := p.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				// Q fetches both: from now on they are local hits.
				for _, n := range []int{1, 2} {
					if v, err := fq.Call(pcache.ErrorOnMiss(ctx), n); err != nil || v != fmt.Sprintf("%d computed in generation 1", n) {
						t.Fatalf("Q's first call of %d: %q, %v", n, v, err)
					}
				}

				gen.Store(2) // a bug fix: results differ from now on
				switch how {
				case "Forget":
					if err := fp.Forget(ctx, 1); err != nil {
						t.Fatal(err)
					}
				case "ForgetAll":
					if err := fp.ForgetAll(ctx); err != nil {
						t.Fatal(err)
					}
				case "refresh":
					if v := mustCall(t, fp, pcache.WithMode(ctx, pcache.ModeRefresh), 1); v == old {
						t.Fatalf("refresh mode returned the old value %q", v)
					}
				}
				if err := p.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				for {
					v := mustCall(t, fq, ctx, 1)
					if v == "1 computed in generation 2" {
						break
					}
					if v != old {
						t.Fatalf("Q served %q, neither the old value nor the new one", v)
					}
					if time.Since(start) > 30*time.Second {
						t.Fatalf("Q still serves %q %v after P's %s", v, time.Since(start), how)
					}
					time.Sleep(every / 5) // polling: the delay under test is the watcher's period
				}
				t.Logf("Q stopped serving the old value %v after P's %s (refresh period %v)", time.Since(start).Round(time.Millisecond), how, every)
				// Key 2: forgotten too by ForgetAll; untouched otherwise.
				want2 := "2 computed in generation 1"
				if how == "ForgetAll" {
					want2 = "2 computed in generation 2"
				}
				if v := mustCall(t, fq, ctx, 2); v != want2 {
					t.Fatalf("Q's key 2 after P's %s: %q, want %q", how, v, want2)
				}
			})
		}
	}
}

// TestRemoteReadersPublishNoUseRecords (issue 22, item 10): a machine that
// only reads (remote hits, then local hits) publishes nothing: the uses of
// entries used on the remote within the day are not written to the log
// every reader replays.
func TestRemoteReadersPublishNoUseRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fb, err := remote.NewFileBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fn := func(_ context.Context, n int) (int, error) { return n * n, nil }
	w := openStore(t, t.TempDir(), pcache.RemoteBackend(fb))
	fw := pcache.MustWrap(w, "readers/uses", fn)
	for n := range 100 {
		mustCall(t, fw, ctx, n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	faulty := remotetest.NewFaulty(fb)
	var published atomic.Int64 // puts of log entries, segments and objects (not the probe of create-only writes)
	faulty.OnRequest = func(op, key string) {
		if op == "put" && (strings.HasPrefix(key, "fn/") || strings.HasPrefix(key, "objects/")) {
			published.Add(1)
		}
	}
	r := openStore(t, t.TempDir(), pcache.RemoteBackend(faulty))
	fr := pcache.MustWrap(r, "readers/uses", fn)
	for range 10 {
		for n := range 100 {
			if v, err := fr.Call(pcache.ErrorOnMiss(ctx), n); err != nil || v != n*n {
				t.Fatalf("reader: %d: %v, %v", n, v, err)
			}
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := published.Load(); n != 0 {
		t.Fatalf("a reader published %d files for 1,000 calls; want none", n)
	}

	// A day later, a reader's uses are published again (once), so the
	// remote's gc sees which entries are still in use.
	later := func() time.Time { return time.Now().Add(25 * time.Hour) }
	r2 := openStore(t, t.TempDir(), pcache.RemoteBackend(faulty), pcache.WithClock(later))
	fr2 := pcache.MustWrap(r2, "readers/uses", fn)
	for range 3 {
		for n := range 100 {
			if v, err := fr2.Call(pcache.ErrorOnMiss(ctx), n); err != nil || v != n*n {
				t.Fatalf("reader a day later: %d: %v, %v", n, v, err)
			}
		}
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	if published.Load() == 0 {
		t.Fatal("a reader a day later published no use")
	}
}

// TestRemoteLeaseWaitsForTheOtherMachine (issue 22, item 9): machine B
// calls a key machine A is computing; B waits for A's result instead of
// computing it too. When A's computation fails, B computes at once.
func TestRemoteLeaseWaitsForTheOtherMachine(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("A fails=%v", fail), func(t *testing.T) {
			t.Parallel() // each mostly waits: for A, and B's polls of the remote
			ctx := context.Background()
			url := "file://" + t.TempDir()
			started, finish := make(chan struct{}), make(chan struct{})
			var bComputed atomic.Int64
			a := openStore(t, t.TempDir(), pcache.Remote(url), pcache.WithLogger(quiet()))
			b := openStore(t, t.TempDir(), pcache.Remote(url), pcache.WithLogger(quiet()))
			fa := pcache.MustWrap(a, "team/lease", func(_ context.Context, n int) (string, error) {
				close(started)
				<-finish
				if fail {
					return "", fmt.Errorf("A's computation failed")
				}
				return fmt.Sprintf("%d by A", n), nil
			})
			fb := pcache.MustWrap(b, "team/lease", func(_ context.Context, n int) (string, error) {
				bComputed.Add(1)
				return fmt.Sprintf("%d by B", n), nil
			})
			aDone := make(chan error, 1)
			go func() { _, err := fa.Call(ctx, 7); aDone <- err }()
			<-started // A holds the lease and computes
			bDone := make(chan string, 1)
			go func() { v, _ := fb.Call(ctx, 7); bDone <- v }()
			select {
			case v := <-bDone:
				t.Fatalf("B returned %q while A was still computing", v)
			case <-time.After(300 * time.Millisecond): // B must be waiting, not computing
			}
			close(finish)
			if err := <-aDone; (err != nil) != fail {
				t.Fatalf("A: %v", err)
			}
			want, computes := "7 by A", int64(0)
			if fail {
				want, computes = "7 by B", 1
			}
			if v := <-bDone; v != want {
				t.Fatalf("B got %q, want %q", v, want)
			}
			if n := bComputed.Load(); n != computes {
				t.Fatalf("B computed %d times, want %d", n, computes)
			}
		})
	}
}

// TestRemoteModeOffOpensNoRemote: PCACHE_MODE=off uses neither the cache
// nor the remote: not one request.
func TestRemoteModeOffOpensNoRemote(t *testing.T) {
	fb, err := remote.NewFileBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	faulty := remotetest.NewFaulty(fb)
	t.Setenv("PCACHE_MODE", "off")
	s := openStore(t, t.TempDir(), pcache.RemoteBackend(faulty))
	f := pcache.MustWrap(s, "off/f", func(_ context.Context, n int) (int, error) { return n, nil })
	for n := range 10 {
		mustCall(t, f, context.Background(), n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := faulty.Total(); n != 0 {
		t.Fatalf("PCACHE_MODE=off made %d remote requests", n)
	}
}

// TestRemoteMaxObject: RemoteMaxObject bounds what a machine fetches (an
// entry naming a larger object is computed and counted), and raising it
// lets larger results through.
func TestRemoteMaxObject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := "file://" + t.TempDir()
	fn := func(_ context.Context, n int) ([]byte, error) { return make([]byte, 4096+n), nil }
	w := openStore(t, t.TempDir(), pcache.Remote(url))
	mustCall(t, pcache.MustWrap(w, "big/f", fn), ctx, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		max      int64
		tooLarge int64
	}{{1024, 1}, {1 << 20, 0}} {
		r := openStore(t, t.TempDir(), pcache.Remote(url), pcache.RemoteMaxObject(tc.max), pcache.WithLogger(quiet()))
		mustCall(t, pcache.MustWrap(r, "big/f", fn), ctx, 1)
		if st := r.Stats(); st.RemoteTooLarge != tc.tooLarge || st.RemoteHits != 1-tc.tooLarge {
			t.Fatalf("RemoteMaxObject(%d): %+v", tc.max, st)
		}
	}
}
