package torture_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// servedFn is the function of the removal tests: its value names the key
// and the generation written in the file PCACHE_TEST_GEN names, so a test
// tells a stale value from a new one.
func servedFn(gen string) func(context.Context, int) (string, error) {
	return func(_ context.Context, k int) (string, error) {
		g, err := os.ReadFile(gen)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("key %d gen %s", k, strings.TrimSpace(string(g))), nil
	}
}

// serveWorker keeps one Store open for its whole life, as a long-running
// program does, and answers "K" lines on stdin with "<computed so far>
// <value>" on stdout.
func serveWorker() int {
	s, err := pcache.Open(os.Getenv("PCACHE_TEST_DIR"), pcache.WithLogger(nil))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	computed := 0
	inner := servedFn(os.Getenv("PCACHE_TEST_GEN"))
	f := pcache.MustWrap(s, "proc/served", func(ctx context.Context, k int) (string, error) {
		computed++
		return inner(ctx, k)
	})
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		k, err := strconv.Atoi(in.Text())
		if err != nil {
			return 2
		}
		v, err := f.Call(context.Background(), k)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%d %s\n", computed, v)
	}
	return 0
}

// server is a running serveWorker.
type server struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Reader
}

func (s *server) call(k int) (computed int, value string) {
	s.t.Helper()
	fmt.Fprintln(s.in, k)
	line, err := s.out.ReadString('\n')
	if err != nil {
		s.t.Fatalf("worker: %v", err)
	}
	n, v, _ := strings.Cut(strings.TrimSpace(line), " ")
	computed, _ = strconv.Atoi(n)
	return computed, v
}

// TestRemovalsReachRunningProcesses: a program that keeps its Store open
// serves entries from its in-memory view; after another process forgets,
// drops (pcache-fsck rm) or refreshes an entry, the program's very next
// call computes again or serves the new value — no waiting, no reopening.
func TestRemovalsReachRunningProcesses(t *testing.T) {
	t.Parallel()
	bin := fsckBinary(t)
	cases := []struct {
		name string
		// remove acts from outside the worker on key 1 of f (stored with
		// generation 1); gen is the generation file.
		remove func(t *testing.T, dir, gen string, f *pcache.Func[int, string])
		// wantComputed: the worker computes key 1 again (else it serves
		// the value the other process stored).
		wantComputed bool
		wantOther    bool // key 2 is removed too
	}{
		{"Forget", func(t *testing.T, dir, gen string, f *pcache.Func[int, string]) {
			if err := f.Forget(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
		}, true, false},
		{"ForgetAll", func(t *testing.T, dir, gen string, f *pcache.Func[int, string]) {
			if err := f.ForgetAll(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, true, true},
		{"pcache-fsck rm -key", func(t *testing.T, dir, gen string, f *pcache.Func[int, string]) {
			key, err := f.Key(1)
			if err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "rm", "proc/served", "-key", key, "-dir", dir).CombinedOutput(); err != nil {
				t.Fatalf("rm -key: %v\n%s", err, out)
			}
		}, true, false},
		{"pcache-fsck rm NAME", func(t *testing.T, dir, gen string, f *pcache.Func[int, string]) {
			if out, err := exec.Command(bin, "rm", "proc/served", "-dir", dir).CombinedOutput(); err != nil {
				t.Fatalf("rm: %v\n%s", err, out)
			}
		}, true, true},
		{"refresh", func(t *testing.T, dir, gen string, f *pcache.Func[int, string]) {
			os.WriteFile(gen, []byte("2"), 0o644)
			v, err := f.Call(pcache.WithMode(context.Background(), pcache.ModeRefresh), 1)
			if err != nil || v != "key 1 gen 2" {
				t.Fatalf("refresh: %q, %v", v, err)
			}
		}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "cache")
			gen := filepath.Join(t.TempDir(), "gen")
			os.WriteFile(gen, []byte("1"), 0o644)
			cmd := testutil.Worker("serve", "PCACHE_TEST_DIR="+dir, "PCACHE_TEST_GEN="+gen, "PCACHE_MODE=")
			in, _ := cmd.StdinPipe()
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				in.Close()
				if err := cmd.Wait(); err != nil {
					t.Errorf("worker: %v", err)
				}
			}()
			w := &server{t: t, in: in, out: bufio.NewReader(out)}
			for _, k := range []int{1, 2, 1, 2} { // computed, then served from the view
				w.call(k)
			}
			if n, v := w.call(1); n != 2 || v != "key 1 gen 1" {
				t.Fatalf("before: computed %d, value %q", n, v)
			}

			s := openStore(t, dir)
			f := pcache.MustWrap(s, "proc/served", servedFn(gen))
			tc.remove(t, dir, gen, f)
			os.WriteFile(gen, []byte("3"), 0o644)

			n, v := w.call(1)
			switch {
			case tc.wantComputed && (n != 3 || v != "key 1 gen 3"):
				t.Fatalf("after %s: computed %d times (want 3), value %q (want the recomputed \"key 1 gen 3\"): the running process served the removed entry", tc.name, n, v)
			case !tc.wantComputed && (n != 2 || v != "key 1 gen 2"):
				t.Fatalf("after %s: computed %d times (want 2), value %q (want the other process's \"key 1 gen 2\")", tc.name, n, v)
			}
			before := n
			n, v = w.call(2)
			if gotOther := n > before; gotOther != tc.wantOther {
				t.Fatalf("after %s: key 2 recomputed = %v (value %q), want %v", tc.name, gotOther, v, tc.wantOther)
			}
		})
	}
}
