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
	tm := newHostileTeam(t)
	tm.calls(t, tm.victim, 0, 20) // a cache with entries, written by the victim
	tm.calls(t, tm.attacker, 10, 30)
	before := tm.outside(t)
	hostileTeamWorkDirs(t, tm, before)
	hostileTeamTopLevel(t, tm, before)
	if code, out := tm.fsck(t, 0, nil, "check"); code != 0 {
		t.Fatalf("check after check -repair: exit %d\n%s", code, out)
	}
	if _, err := os.Lstat(filepath.Join(tm.home, "created-by-pcache")); err == nil {
		t.Fatal("a dangling link made pcache create a file in the victim's home")
	}
}

// hostileTeam is TestHostileTeamMember's setting: the team cache dir (fn
// is its function team/f's manifest directory), the test binary exe and
// pcache-fsck that the users run, the environment they run with, and what
// lies outside the cache: the victim's home, a stand-in for /etc (root's),
// and a directory of the attacker's own (drop).
type hostileTeam struct {
	exe, fsckExe     string
	dir, fn          string
	home, etc, drop  string
	env              []string
	attacker, victim int
}

// newHostileTeam makes the team cache directory (setgid, group-writable)
// and the directories outside it, each holding three precious files older
// than any grace period. It skips the test unless it runs as root.
func newHostileTeam(t *testing.T) *hostileTeam {
	base, exe := teamBase(t)
	tm := &hostileTeam{exe: exe, fsckExe: filepath.Join(base, "bin", "pcache-fsck"), attacker: teamUserA, victim: teamUserB}
	if err := testutil.LinkExecutable(fsckBinary(t), tm.fsckExe); err != nil {
		t.Fatal(err)
	}

	// What lies outside the cache: the victim's home, a stand-in for /etc
	// (root's), and a directory of the attacker's own.
	tm.home = filepath.Join(base, "home-victim")
	tm.etc = filepath.Join(base, "etc")
	tm.drop = filepath.Join(base, "attacker-drop")
	old := time.Now().Add(-72 * time.Hour)
	for _, d := range []struct {
		dir  string
		uid  int
		mode os.FileMode
	}{{tm.home, tm.victim, 0o700}, {tm.etc, 0, 0o755}, {tm.drop, tm.attacker, 0o777}} {
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

	tm.dir = filepath.Join(base, "team")
	os.Mkdir(tm.dir, 0o770)
	os.Chown(tm.dir, 0, teamGID)
	os.Chmod(tm.dir, 0o2770|os.ModeSetgid)
	count := filepath.Join(base, "count")
	os.Mkdir(count, 0o777)
	os.Chmod(count, 0o777)
	tm.env = []string{"PCACHE_TEST_DIR=" + tm.dir, "PCACHE_TEST_COUNT=" + count, "HOME=" + base, "PCACHE_MODE=", "PCACHE_REMOTE="}
	tm.fn = filepath.Join(tm.dir, "manifests", "team", "f")
	return tm
}

// outside is a snapshot of every directory outside the cache.
func (tm *hostileTeam) outside(t *testing.T) string {
	return testutil.Snapshot(t, tm.home) + "\n" + testutil.Snapshot(t, tm.etc) + "\n" + testutil.Snapshot(t, tm.drop)
}

// asUser is a command that runs as uid in the team's group, with the team
// environment and a deadline of two minutes.
func (tm *hostileTeam) asUser(uid int, name string, args ...string) (*exec.Cmd, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), tm.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: teamGID}}
	return cmd, cancel
}

// calls runs the team workers' calls on keys from to to as uid, and fails
// the test unless they all return the right value.
func (tm *hostileTeam) calls(t *testing.T, uid, from, to int) {
	t.Helper()
	cmd, cancel := tm.asUser(uid, tm.exe, "-test.run=^$")
	defer cancel()
	cmd.Env = append(cmd.Env, testutil.WorkerEnv("team"), "PCACHE_TEST_LENIENT=1",
		"PCACHE_TEST_FROM="+strconv.Itoa(from), "PCACHE_TEST_TO="+strconv.Itoa(to))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("calls as uid %d: %v\n%s", uid, err, out)
	}
}

// plant makes p with make as the attacker would (made here as root, then
// handed to the attacker), in place of whatever was there.
func (tm *hostileTeam) plant(t *testing.T, p string, make func(p string) error) {
	os.RemoveAll(p)
	os.MkdirAll(filepath.Dir(p), 0o770)
	if err := make(p); err != nil {
		t.Fatalf("plant %s: %v", p, err)
	}
	os.Lchown(p, tm.attacker, teamGID)
}

// symlinkTo makes a symbolic link to to, for plant.
func symlinkTo(to string) func(string) error {
	return func(p string) error { return os.Symlink(to, p) }
}

// fsck runs pcache-fsck with args on the team cache as uid, with extraEnv
// added, and returns its exit code and output. It fails the test if the
// command did not finish (its deadline killed it).
func (tm *hostileTeam) fsck(t *testing.T, uid int, extraEnv []string, args ...string) (int, string) {
	t.Helper()
	cmd, cancel := tm.asUser(uid, tm.fsckExe, append(args, "-dir", tm.dir)...)
	defer cancel()
	cmd.Env = append(cmd.Env, extraEnv...)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || !cmd.ProcessState.Exited() {
		t.Fatalf("pcache-fsck %v as uid %d did not finish: %v\n%s", args, uid, err, out)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// everyCommand runs every pcache-fsck command as the victim (who names the
// cache a safe directory), then gc and check -repair as root.
func (tm *hostileTeam) everyCommand(t *testing.T) {
	t.Helper()
	safe := []string{"PCACHE_SAFE_DIRECTORY=" + tm.dir}
	for _, args := range [][]string{{"ls"}, {"stats"}, {"gc", "-dry-run"}, {"gc", "-grace", "0s"}, {"rm", "team/f", "-key", "0000"}, {"check", "-repair"}} {
		tm.fsck(t, tm.victim, safe, args...)
	}
	tm.fsck(t, 0, nil, "gc", "-grace", "0s")
	tm.fsck(t, 0, nil, "check", "-repair")
}

// hostileTeamWorkDirs plants inside the directories the victim's process
// writes in: a link at the board to her thesis, a dangling link where the
// gc turnstile's file will be made, an object fan-out directory linked to
// her home, a FIFO and a sparse 1 TiB file as journals. The victim's calls
// still work, check names objects/ab, and after every command and more
// calls nothing outside the cache differs from before.
func hostileTeamWorkDirs(t *testing.T, tm *hostileTeam, before string) {
	tm.plant(t, filepath.Join(tm.dir, "locks", "board"), symlinkTo(filepath.Join(tm.home, "thesis.tex")))
	tm.plant(t, filepath.Join(tm.dir, "locks", "gc.intent"), symlinkTo(filepath.Join(tm.home, "created-by-pcache")))
	tm.plant(t, filepath.Join(tm.dir, "objects", "ab"), symlinkTo(tm.home))
	tm.plant(t, filepath.Join(tm.fn, "j-planted.fifo.pcj"), func(p string) error { return syscall.Mkfifo(p, 0o660) })
	tm.plant(t, filepath.Join(tm.fn, "j-planted.sparse.pcj"), func(p string) error {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Truncate(1 << 40)
	})
	tm.calls(t, tm.victim, 0, 60)
	code, out := tm.fsck(t, tm.victim, nil, "check")
	if code != 1 || !strings.Contains(out, "planted objects/ab") {
		t.Fatalf("check as the victim: exit %d, want 1 naming objects/ab:\n%s", code, out)
	}
	tm.everyCommand(t)
	tm.calls(t, tm.victim, 0, 60)
	if after := tm.outside(t); after != before {
		t.Fatalf("files outside the cache changed (calls and commands beside planted files):\nbefore\n%s\nafter\n%s", before, after)
	}
}

// hostileTeamTopLevel links the cache's own top-level directories: tmp/ to
// the stand-in for /etc (whose files are older than any grace period),
// lost+found/ to the attacker's directory. The victim's calls still work,
// check names both, and after every command and more calls nothing outside
// the cache differs from before.
func hostileTeamTopLevel(t *testing.T, tm *hostileTeam, before string) {
	tm.plant(t, filepath.Join(tm.dir, "tmp"), symlinkTo(tm.etc))
	tm.plant(t, filepath.Join(tm.dir, "lost+found"), symlinkTo(tm.drop))
	tm.calls(t, tm.victim, 0, 80)
	code, out := tm.fsck(t, tm.victim, nil, "check")
	if code != 1 || !strings.Contains(out, "planted tmp") || !strings.Contains(out, "planted lost+found") {
		t.Fatalf("check as the victim: exit %d, want 1 naming tmp and lost+found:\n%s", code, out)
	}
	tm.everyCommand(t)
	tm.calls(t, tm.victim, 0, 80)
	if after := tm.outside(t); after != before {
		t.Fatalf("files outside the cache changed (planted top-level links):\nbefore\n%s\nafter\n%s", before, after)
	}
}
