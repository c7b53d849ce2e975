package torture_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/testutil"
)

// TestHostileTeamMember: two users of one group share a setgid team cache.
// One of them (the attacker) plants links to the other's private files and
// to a stand-in for /etc, a dangling link where a lock file will be made,
// a FIFO and a sparse 1 TiB journal. Then the victim runs calls and every
// pcache-fsck command, and root runs gc and check -repair: nothing outside
// the cache is created, changed, moved or deleted, no process hangs past
// its deadline, every call returns the right value, and check names what
// was planted.
func TestHostileTeamMember(t *testing.T) {
	t.Parallel()
	base, exe := teamBase(t)
	attacker, victim := teamUserA, teamUserB
	fsckExe := filepath.Join(base, "bin", "pcache-fsck")
	if err := testutil.LinkExecutable(fsckBinary(t), fsckExe); err != nil {
		t.Fatal(err)
	}

	// What lies outside the cache: the victim's home, a stand-in for /etc
	// (root's), and a directory of the attacker's own.
	home := filepath.Join(base, "home-victim")
	etc := filepath.Join(base, "etc")
	drop := filepath.Join(base, "attacker-drop")
	old := time.Now().Add(-72 * time.Hour)
	for _, d := range []struct {
		dir  string
		uid  int
		mode os.FileMode
	}{{home, victim, 0o700}, {etc, 0, 0o755}, {drop, attacker, 0o777}} {
		os.Mkdir(d.dir, d.mode)
		os.Chmod(d.dir, d.mode)
		for _, f := range []string{"thesis.tex", "id_ed25519", "passwd"} {
			p := filepath.Join(d.dir, f)
			os.WriteFile(p, []byte("precious "+f+" of "+d.dir), 0o600)
			os.Chown(p, d.uid, teamGID)
			os.Chtimes(p, old, old)
		}
		os.Chown(d.dir, d.uid, teamGID)
	}
	outside := func() string {
		return testutil.Snapshot(t, home) + "\n" + testutil.Snapshot(t, etc) + "\n" + testutil.Snapshot(t, drop)
	}

	dir := filepath.Join(base, "team")
	os.Mkdir(dir, 0o770)
	os.Chown(dir, 0, teamGID)
	os.Chmod(dir, 0o2770|os.ModeSetgid)
	count := filepath.Join(base, "count")
	os.Mkdir(count, 0o777)
	os.Chmod(count, 0o777)
	env := []string{"PCACHE_TEST_DIR=" + dir, "PCACHE_TEST_COUNT=" + count, "HOME=" + base, "PCACHE_MODE=", "PCACHE_REMOTE="}
	asUser := func(uid int, name string, args ...string) (*exec.Cmd, context.CancelFunc) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: teamGID}}
		return cmd, cancel
	}
	calls := func(uid, from, to int) {
		t.Helper()
		cmd, cancel := asUser(uid, exe, "-test.run=^$")
		defer cancel()
		cmd.Env = append(cmd.Env, testutil.WorkerEnv("team"), "PCACHE_TEST_LENIENT=1",
			"PCACHE_TEST_FROM="+strconv.Itoa(from), "PCACHE_TEST_TO="+strconv.Itoa(to))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("calls as uid %d: %v\n%s", uid, err, out)
		}
	}
	calls(victim, 0, 20) // a cache with entries, written by the victim
	calls(attacker, 10, 30)
	before := outside()

	// The attacker plants (made here as root, then handed to the attacker).
	plant := func(p string, make func(p string) error) {
		os.RemoveAll(p)
		os.MkdirAll(filepath.Dir(p), 0o770)
		if err := make(p); err != nil {
			t.Fatalf("plant %s: %v", p, err)
		}
		os.Lchown(p, attacker, teamGID)
	}
	link := func(to string) func(string) error { return func(p string) error { return os.Symlink(to, p) } }
	fn := filepath.Join(dir, "manifests", "team", "f")
	fsck := func(uid int, extraEnv []string, args ...string) (int, string) {
		t.Helper()
		cmd, cancel := asUser(uid, fsckExe, append(args, "-dir", dir)...)
		defer cancel()
		cmd.Env = append(cmd.Env, extraEnv...)
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || !cmd.ProcessState.Exited() {
			t.Fatalf("pcache-fsck %v as uid %d did not finish: %v\n%s", args, uid, err, out)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	safe := []string{"PCACHE_SAFE_DIRECTORY=" + dir}
	everyCommand := func() {
		t.Helper()
		for _, args := range [][]string{{"ls"}, {"stats"}, {"gc", "-dry-run"}, {"gc", "-grace", "0s"}, {"rm", "team/f", "-key", "0000"}, {"check", "-repair"}} {
			fsck(victim, safe, args...)
		}
		fsck(0, nil, "gc", "-grace", "0s")
		fsck(0, nil, "check", "-repair")
	}

	// 1. Inside the directories the victim's process writes in: a link at
	// the board to her thesis, a dangling link where the gc turnstile's
	// file will be made, an object fan-out directory linked to her home, a
	// FIFO and a sparse 1 TiB file as journals.
	plant(filepath.Join(dir, "locks", "board"), link(filepath.Join(home, "thesis.tex")))
	plant(filepath.Join(dir, "locks", "gc.intent"), link(filepath.Join(home, "created-by-pcache")))
	plant(filepath.Join(dir, "objects", "ab"), link(home))
	plant(filepath.Join(fn, "j-planted.fifo.pcj"), func(p string) error { return syscall.Mkfifo(p, 0o660) })
	plant(filepath.Join(fn, "j-planted.sparse.pcj"), func(p string) error {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Truncate(1 << 40)
	})
	calls(victim, 0, 60)
	code, out := fsck(victim, nil, "check")
	if code != 1 || !strings.Contains(out, "planted objects/ab") {
		t.Fatalf("check as the victim: exit %d, want 1 naming objects/ab:\n%s", code, out)
	}
	everyCommand()
	calls(victim, 0, 60)
	if after := outside(); after != before {
		t.Fatalf("files outside the cache changed (calls and commands beside planted files):\nbefore\n%s\nafter\n%s", before, after)
	}

	// 2. The cache's own top-level directories: tmp/ to the stand-in for
	// /etc (whose files are older than any grace period), lost+found/ to
	// the attacker's directory.
	plant(filepath.Join(dir, "tmp"), link(etc))
	plant(filepath.Join(dir, "lost+found"), link(drop))
	calls(victim, 0, 80)
	code, out = fsck(victim, nil, "check")
	if code != 1 || !strings.Contains(out, "planted tmp") || !strings.Contains(out, "planted lost+found") {
		t.Fatalf("check as the victim: exit %d, want 1 naming tmp and lost+found:\n%s", code, out)
	}
	everyCommand()
	calls(victim, 0, 80)
	if after := outside(); after != before {
		t.Fatalf("files outside the cache changed (planted top-level links):\nbefore\n%s\nafter\n%s", before, after)
	}
	if code, out := fsck(0, nil, "check"); code != 0 {
		t.Fatalf("check after check -repair: exit %d\n%s", code, out)
	}
	if _, err := os.Lstat(filepath.Join(home, "created-by-pcache")); err == nil {
		t.Fatal("a dangling link made pcache create a file in the victim's home")
	}
}
