package torture_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/remote"
	"github.com/pcache/pcache/internal/remotetest"
	"github.com/pcache/pcache/internal/s3server"
	"github.com/pcache/pcache/internal/testutil"
	_ "github.com/pcache/pcache/remote/s3" // the s3 kind, in this process and its workers
)

// remoteValue is what the remote workers compute for key k.
func remoteValue(k int) string { return fmt.Sprintf("value-%d-%s", k, strings.Repeat("x", k%300)) }

// remoteWriterWorker computes keys PCACHE_TEST_FROM..PCACHE_TEST_TO of one
// function in a local cache of its own, sharing through $PCACHE_REMOTE,
// and closes (flushing what it publishes).
func remoteWriterWorker() int {
	from, _ := strconv.Atoi(os.Getenv("PCACHE_TEST_FROM"))
	to, _ := strconv.Atoi(os.Getenv("PCACHE_TEST_TO"))
	s, err := pcache.Open(os.Getenv("PCACHE_TEST_DIR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f := pcache.MustWrap(s, "proc/remote", func(_ context.Context, k int) (string, error) { return remoteValue(k), nil })
	for k := from; k < to; k++ {
		got, err := f.Call(context.Background(), k)
		if err != nil || got != remoteValue(k) {
			fmt.Fprintln(os.Stderr, "worker:", k, err)
			return 1
		}
	}
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if st := s.Stats(); st.Uploads+st.RemoteHits < int64(to-from) || st.UploadsDropped != 0 {
		fmt.Fprintf(os.Stderr, "worker: %+v\n", st)
		return 1
	}
	return 0
}

// TestRemoteFourWriterProcesses: four processes, each with its own local
// cache, compute overlapping keys at once through one remote; afterwards a
// fresh cache is served every key from the remote.
func TestRemoteFourWriterProcesses(t *testing.T) {
	if !testutil.Alone(t) {
		return
	}
	for _, kind := range []string{"file", "s3"} {
		t.Run(kind, func(t *testing.T) {
			var env []string
			url := "file://" + t.TempDir()
			if kind == "s3" {
				srv := s3server.Shared(t)
				url = "s3://" + srv.Bucket(t) + "/procs"
				env = srv.EnvList()
				srv.Env(t) // for this process's store below
			}
			keys, span := 400, 200
			if testing.Short() {
				keys, span = 100, 50
			}
			step := (keys - span) / 3
			var cmds []*exec.Cmd
			for w := range 4 {
				cmd := testutil.Worker("remotewriter", append(env, "PCACHE_REMOTE="+url, "PCACHE_TEST_DIR="+t.TempDir(),
					"PCACHE_TEST_FROM="+strconv.Itoa(w*step), "PCACHE_TEST_TO="+strconv.Itoa(w*step+span))...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, cmd)
			}
			for _, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("writer: %v", err)
				}
			}
			s := openStore(t, t.TempDir(), pcache.Remote(url))
			f := pcache.MustWrap(s, "proc/remote", func(_ context.Context, k int) (string, error) { return "", fmt.Errorf("computed %d", k) })
			for k := range 3*step + span {
				got, err := f.Call(pcache.ErrorOnMiss(context.Background()), k)
				if err != nil || got != remoteValue(k) {
					t.Fatalf("key %d after four writers: %q, %v (stats %+v)", k, got, err, s.Stats())
				}
			}
		})
	}
}

// remoteCrashWorker computes keys 0..19 with a remote whose log puts
// hang, says "publishing" once they are all recorded and the first log put
// has started (its objects and segment are up by then), and waits to be
// killed.
func remoteCrashWorker() int {
	b, err := remote.NewFileBackend(os.Getenv("PCACHE_TEST_REMOTE_DIR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	faulty := remotetest.NewFaulty(b)
	faulty.Only = "/log/"
	said := make(chan struct{})
	var once sync.Once
	faulty.OnRequest = func(op, key string) {
		if op == "put" && strings.Contains(key, "/log/") {
			once.Do(func() { close(said) })
		}
	}
	faulty.HangOp = "put"
	faulty.Hang.Store(true)
	s, err := pcache.Open(os.Getenv("PCACHE_TEST_DIR"), pcache.RemoteBackend(faulty), pcache.RemoteTimeouts(time.Hour, time.Hour))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f := pcache.MustWrap(s, "proc/crash-remote", func(_ context.Context, k int) (string, error) { return remoteValue(k), nil })
	for k := range 20 {
		if _, err := f.Call(context.Background(), k); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	<-said // every entry is recorded, and the publisher has begun
	fmt.Println("publishing")
	select {} // until killed
}

// TestRemoteKilledBeforeRecordIsPublished: a process killed -9 after its
// objects went up and before the log entry naming them loses nothing: the
// next Open of its local cache publishes the outbox.
func TestRemoteKilledBeforeRecordIsPublished(t *testing.T) {
	t.Parallel()
	remoteDir, localDir := t.TempDir(), t.TempDir()
	cmd := testutil.Worker("remotecrash", "PCACHE_TEST_DIR="+localDir, "PCACHE_TEST_REMOTE_DIR="+remoteDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "publishing\n" {
		cmd.Process.Kill()
		t.Fatalf("worker said %q, %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if objs, _ := os.ReadDir(filepath.Join(remoteDir, "objects")); len(objs) == 0 {
		t.Fatal("the worker was killed before it uploaded objects; the test proves nothing")
	}
	url := "file://" + remoteDir
	check := func(wantAll bool) {
		t.Helper()
		s := openStore(t, t.TempDir(), pcache.Remote(url))
		f := pcache.MustWrap(s, "proc/crash-remote", func(_ context.Context, k int) (string, error) { return "", fmt.Errorf("computed") })
		served := 0
		for k := range 20 {
			if got, err := f.Call(pcache.ErrorOnMiss(context.Background()), k); err == nil && got == remoteValue(k) {
				served++
			}
		}
		if wantAll && served != 20 || !wantAll && served != 0 {
			t.Fatalf("a fresh cache was served %d of 20 keys", served)
		}
	}
	check(false) // nothing is published: objects without records
	// The crashed process's cache is opened again: its outbox goes up.
	s, err := pcache.Open(localDir, pcache.Remote(url))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Uploads != 20 {
		t.Fatalf("reopening published %d entries, want 20 (%+v)", st.Uploads, st)
	}
	check(true)
}

// TestRemoteServerStopsAndRestarts: with the server gone mid-run, calls go
// on locally and promptly; when it is back, the backlog is published.
func TestRemoteServerStopsAndRestarts(t *testing.T) {
	if !testutil.Alone(t) {
		return
	}
	srv := s3server.Start(t)
	srv.Env(t)
	url := "s3://" + srv.Bucket(t) + "/restart"
	ctx := context.Background()
	s, err := pcache.Open(t.TempDir(), pcache.Remote(url), pcache.RemoteTimeouts(500*time.Millisecond, 20*time.Second), pcache.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	f := pcache.MustWrap(s, "proc/restart", func(_ context.Context, k int) (string, error) { return remoteValue(k), nil })
	for k := range 20 {
		mustCall(t, f, ctx, k)
	}
	srv.Stop()
	start := time.Now()
	for k := range 200 {
		if got := mustCall(t, f, ctx, k); got != remoteValue(k) {
			t.Fatalf("key %d: %q", k, got)
		}
	}
	// Liveness, not speed: 180 misses against a dead server take a few
	// request timeouts (the breaker stops asking), not 180 of them.
	if d := time.Since(start); d > 60*time.Second {
		t.Fatalf("200 calls with the server down took %v", d)
	}
	// A function this process has not asked the remote about yet asks now.
	h := pcache.MustWrap(s, "proc/restart-other", func(_ context.Context, k int) (int, error) { return k, nil })
	mustCall(t, h, ctx, 1)
	if st := s.Stats(); st.RemoteErrors == 0 {
		t.Fatalf("no remote errors counted with the server down: %+v", st)
	}
	srv.Restart(t)
	if err := s.Close(); err != nil { // flushes the backlog
		t.Fatal(err)
	}
	fresh := openStore(t, t.TempDir(), pcache.Remote(url))
	g := pcache.MustWrap(fresh, "proc/restart", func(_ context.Context, k int) (string, error) { return "", fmt.Errorf("computed %d", k) })
	for k := range 200 {
		if got, err := g.Call(pcache.ErrorOnMiss(ctx), k); err != nil || got != remoteValue(k) {
			t.Fatalf("key %d after the restart: %q, %v (first store %+v)", k, got, err, s.Stats())
		}
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
