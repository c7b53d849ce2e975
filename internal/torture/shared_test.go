package torture_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/testutil"
)

// A team cache: one directory, group-writable and setgid, used by two
// accounts of one group whose umask is 002.
const (
	teamGID   = 64000
	teamUserA = 64001
	teamUserB = 64002
)

// teamBase skips unless root, and returns a directory every user may
// enter, holding bin/ with a copy of this test binary (exe) that the team's
// users can run as workers.
func teamBase(t *testing.T) (base, exe string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to run children as two other users (the root pass of .ci/run runs it)")
	}
	base = t.TempDir()
	os.Chmod(filepath.Dir(base), 0o755)
	os.Chmod(base, 0o755)
	bin := filepath.Join(base, "bin")
	os.Mkdir(bin, 0o755)
	exe = filepath.Join(bin, "torture.test")
	if err := testutil.LinkExecutable(os.Args[0], exe); err != nil {
		t.Fatal(err)
	}
	return base, exe
}

// TestGroupSharedCache runs two unprivileged users of one group against a
// setgid, group-writable cache directory (umask 002): each serves the
// other's entries, both store (small results go to packs, large ones to
// loose objects), concurrent misses of one key are computed once across the
// two users, and every file in the cache is readable by the group.
func TestGroupSharedCache(t *testing.T) {
	t.Parallel()
	base, exe := teamBase(t)
	dir := filepath.Join(base, "team")
	if err := os.Mkdir(dir, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 0, teamGID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o2775|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	count := filepath.Join(base, "count")
	os.Mkdir(count, 0o777)
	os.Chmod(count, 0o777)

	run := func(uid int, from, to int) error {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), testutil.WorkerEnv("team"), "PCACHE_TEST_DIR="+dir, "PCACHE_TEST_COUNT="+count,
			"PCACHE_TEST_FROM="+strconv.Itoa(from), "PCACHE_TEST_TO="+strconv.Itoa(to), "HOME="+base, "PCACHE_MODE=")
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: teamGID}}
		return cmd.Run()
	}
	computed := func() int {
		es, _ := os.ReadDir(count)
		return len(es)
	}

	if err := run(teamUserA, 0, 20); err != nil {
		t.Fatalf("user A: %v", err)
	}
	if n := computed(); n != 20 {
		t.Fatalf("user A computed %d of 20 new keys", n)
	}
	if err := run(teamUserB, 0, 40); err != nil {
		t.Fatalf("user B: %v", err)
	}
	if n := computed(); n != 40 {
		t.Fatalf("after user B: %d computations, want 40 (B must hit A's 20 and store its own 20)", n)
	}
	if err := run(teamUserA, 0, 40); err != nil {
		t.Fatalf("user A again: %v", err)
	}
	if n := computed(); n != 40 {
		t.Fatalf("user A recomputed B's entries: %d computations, want 40", n)
	}
	// Both users at once on the same new keys: each key once.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, uid := range []int{teamUserA, teamUserB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run(uid, 40, 80)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent run: %v", err)
		}
	}
	if n := computed(); n != 80 {
		t.Fatalf("two users on 40 new keys computed %d times, want 40 more (80)", n-40)
	}
	// Every file the two users wrote is the group's to read, and every
	// directory stays the group's.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Gid != teamGID {
			t.Errorf("%s: group %d, want the cache's group %d (setgid)", p, st.Gid, teamGID)
		}
		if fi.Mode().Perm()&0o040 == 0 {
			t.Errorf("%s: mode %v: the group cannot read it", p, fi.Mode())
		}
		return nil
	})
}

// teamWorker calls one function over keys [PCACHE_TEST_FROM,
// PCACHE_TEST_TO) with umask 002, recording each computation as a file in
// PCACHE_TEST_COUNT, and checks every value.
func teamWorker() int {
	syscall.Umask(0o002)
	from, _ := strconv.Atoi(os.Getenv("PCACHE_TEST_FROM"))
	to, _ := strconv.Atoi(os.Getenv("PCACHE_TEST_TO"))
	count := os.Getenv("PCACHE_TEST_COUNT")
	lenient := os.Getenv("PCACHE_TEST_LENIENT") != "" // a hostile cache may be used read-only
	var opts []pcache.StoreOption
	if !lenient {
		opts = append(opts, pcache.ReturnStoreErrors())
	}
	s, err := pcache.Open(os.Getenv("PCACHE_TEST_DIR"), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "team worker:", err)
		return 1
	}
	defer s.Close()
	value := func(k int) []byte {
		n := 100
		if k%5 == 0 {
			n = 200 << 10 // a loose object
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(k + i)
		}
		return b
	}
	f := pcache.MustWrap(s, "team/f", func(_ context.Context, k int) ([]byte, error) {
		if err := os.WriteFile(filepath.Join(count, fmt.Sprintf("%d.%d", k, os.Getpid())), nil, 0o666); err != nil {
			return nil, err
		}
		return value(k), nil
	})
	for k := from; k < to; k++ {
		got, err := f.Call(context.Background(), k)
		if err != nil {
			fmt.Fprintf(os.Stderr, "team worker uid %d: key %d: %v\n", os.Getuid(), k, err)
			return 1
		}
		if string(got) != string(value(k)) {
			fmt.Fprintf(os.Stderr, "team worker uid %d: key %d: wrong value\n", os.Getuid(), k)
			return 1
		}
	}
	if st := s.Stats(); st.StoreErrors != 0 && !lenient {
		fmt.Fprintf(os.Stderr, "team worker uid %d: %d store errors\n", os.Getuid(), st.StoreErrors)
		return 1
	}
	return 0
}
