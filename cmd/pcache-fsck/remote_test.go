package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/remote"
	"github.com/pcache/pcache/internal/s3server"
)

// fillRemote publishes n entries of function name (each result i KiB) to
// the file remote at dir, through the library, one at a time so they have
// distinct last uses; it returns the remote's URL.
func fillRemote(t *testing.T, dir, name string, n int) string {
	t.Helper()
	url := "file://" + dir
	s, err := pcache.Open(t.TempDir(), pcache.Remote(url))
	if err != nil {
		t.Fatal(err)
	}
	f := pcache.MustWrap(s, name, func(_ context.Context, i int) ([]byte, error) {
		return []byte(strings.Repeat(fmt.Sprint(i%10), (i+1)<<10)), nil
	})
	for i := range n {
		if _, err := f.Call(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Uploads != int64(n) {
		t.Fatalf("published %d of %d", st.Uploads, n)
	}
	return url
}

// served counts the keys 0..n-1 a fresh cache is served from the remote.
func served(t *testing.T, url, name string, n int) int {
	t.Helper()
	s, err := pcache.Open(t.TempDir(), pcache.Remote(url))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := pcache.MustWrap(s, name, func(_ context.Context, i int) ([]byte, error) { return nil, fmt.Errorf("computed") })
	got := 0
	for i := range n {
		if _, err := f.Call(pcache.ErrorOnMiss(context.Background()), i); err == nil {
			got++
		}
	}
	return got
}

func TestRemoteStatsAndCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	url := fillRemote(t, dir, "remote/a", 12)
	fillRemote(t, dir, "remote/b", 3)

	var rep remote.Report
	decodeJSON(t, runCLICode(t, exitOK, "remote", "stats", "-remote", url, "-json").stdout, &rep)
	if len(rep.Functions) != 2 || rep.Functions[0].Name != "remote/a" || rep.Functions[0].Entries != 12 || rep.Functions[1].Entries != 3 {
		t.Fatalf("stats: %+v", rep.Functions)
	}
	out := runCLICode(t, exitOK, "remote", "stats", "-remote", url).stdout
	if !strings.Contains(out, "remote/a") || !strings.Contains(out, "2 functions, 15 entries") {
		t.Fatalf("stats:\n%s", out)
	}
	// $PCACHE_REMOTE is the default.
	cmd := runCLIEnv(t, []string{"PCACHE_REMOTE=" + url}, "remote", "check", "-verify")
	if cmd.code != exitOK || !strings.Contains(cmd.stdout, "clean") {
		t.Fatalf("check of a good remote: %d\n%s%s", cmd.code, cmd.stdout, cmd.stderr)
	}

	// Damage: one object gone, one flipped, one segment garbled.
	objs, _ := filepath.Glob(filepath.Join(dir, "objects", "*"))
	if len(objs) < 3 {
		t.Fatalf("%d objects", len(objs))
	}
	os.Remove(objs[0])
	b, _ := os.ReadFile(objs[1])
	b[0] ^= 1
	os.WriteFile(objs[1], b, 0o644)
	segs, _ := filepath.Glob(filepath.Join(dir, "fn", "*", "segments", "*"))
	os.WriteFile(segs[0], []byte("garbled"), 0o644)

	r := runCLICode(t, exitProblems, "remote", "check", "-remote", url, "-verify")
	for _, kind := range []string{remote.KindMissingObject, remote.KindBadObject, remote.KindBadSegment} {
		if !strings.Contains(r.stdout, kind) {
			t.Errorf("check does not report %s:\n%s", kind, r.stdout)
		}
	}
}

func TestRemoteGC(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 10 // results of 1..10 KiB: 55 KiB in all
	url := fillRemote(t, dir, "remote/gc", n)
	// Make entries 0..4 the most recently used: a second machine computes
	// them again (refresh mode). A use by a mere hit is published at most
	// once a day per entry, and these were all made a moment ago.
	s, err := pcache.Open(t.TempDir(), pcache.Remote(url))
	if err != nil {
		t.Fatal(err)
	}
	f := pcache.MustWrap(s, "remote/gc", func(_ context.Context, i int) ([]byte, error) {
		return []byte(strings.Repeat(fmt.Sprint(i%10), (i+1)<<10)), nil
	})
	for i := range 5 {
		if _, err := f.Call(pcache.WithMode(context.Background(), pcache.ModeRefresh), i); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	dry := runCLICode(t, exitOK, "remote", "gc", "-remote", url, "-max-size", "20KiB", "-grace", "0s", "-dry-run")
	var before remote.Report
	decodeJSON(t, runCLICode(t, exitOK, "remote", "stats", "-remote", url, "-json").stdout, &before)
	if !strings.Contains(dry.stdout, "dry run") || !strings.Contains(dry.stdout, "evicted 5 entries") || before.Functions[0].Entries != n || before.Functions[0].Log < 2 {
		// At least the fill's log entry and the second machine's use
		// records; a loaded machine publishes in more chunks.
		t.Fatalf("dry run: %+v\n%s", before.Functions, dry.stdout)
	}
	var rep remote.GCReport
	decodeJSON(t, runCLICode(t, exitOK, "remote", "gc", "-remote", url, "-max-size", "20KiB", "-grace", "0s", "-json").stdout, &rep)
	if rep.Evicted != 5 || rep.DeletedObjects != 5 || rep.DeletedLog == 0 {
		t.Fatalf("gc -max-size 20KiB: %+v; want the 5 least recently used entries (6..10 KiB each) evicted with their objects, the log compacted", rep)
	}
	if got := served(t, url, "remote/gc", 5); got != 5 {
		t.Fatalf("the 5 recently used entries: %d served after gc", got)
	}
	if got := served(t, url, "remote/gc", n); got != 5 {
		t.Fatalf("%d of %d served after evicting 5", got, n)
	}
	var st remote.Report
	decodeJSON(t, runCLICode(t, exitOK, "remote", "stats", "-remote", url, "-json").stdout, &st)
	if fn := st.Functions[0]; fn.Entries != 5 || fn.Checkpoint == 0 || st.Unreferenced != 0 {
		t.Fatalf("after gc: %+v, %d unreferenced", fn, st.Unreferenced)
	}
	runCLICode(t, exitOK, "remote", "check", "-remote", url, "-verify")

	// Age: everything was last used just now, so -older-than 1h keeps it.
	decodeJSON(t, runCLICode(t, exitOK, "remote", "gc", "-remote", url, "-older-than", "1h", "-json").stdout, &rep)
	if rep.Evicted != 0 || rep.DeletedObjects != 0 {
		t.Fatalf("gc -older-than 1h evicted fresh entries: %+v", rep)
	}
}

func TestRemoteUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"remote"},
		{"remote", "stats"},
		{"remote", "frobnicate", "-remote", "file:///nonexistent/x"}, // the verb is refused before the directory is looked at
		{"remote", "stats", "-repair", "-remote", "file:///nonexistent/x"},
		{"remote", "stats", "-remote", "ftp://x/y"},
		{"remote", "gc", "-remote", "file://" + t.TempDir(), "-max-size", "0"},
	} {
		if r := runCLIEnv(t, []string{"PCACHE_REMOTE="}, args...); r.code != exitUsage || !strings.Contains(r.stderr, "pcache-fsck remote") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// TestRemoteS3: pcache-fsck has the S3 backend linked in (users do not
// build it themselves): remote stats reads what the library published to
// an S3-compatible server, and a bucket that does not exist is named as
// such, not taken for an empty remote. Not parallel: the server's
// credentials are set in the environment (srv.Env), for this process's
// Store and for the binary.
func TestRemoteS3(t *testing.T) {
	srv := s3server.Shared(t)
	srv.Env(t)
	url := "s3://" + srv.Bucket(t) + "/fsck"
	s, err := pcache.Open(t.TempDir(), pcache.Remote(url))
	if err != nil {
		t.Fatal(err)
	}
	f := pcache.MustWrap(s, "remote/s3", func(_ context.Context, i int) (int, error) { return i, nil })
	for i := range 3 {
		if _, err := f.Call(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var rep remote.Report
	decodeJSON(t, runCLICode(t, exitOK, "remote", "stats", "-remote", url, "-json").stdout, &rep)
	if len(rep.Functions) != 1 || rep.Functions[0].Entries != 3 {
		t.Fatalf("stats of the S3 remote: %+v", rep.Functions)
	}
	r := runCLI(t, "remote", "stats", "-remote", "s3://pcache-no-such-bucket/fsck")
	if r.code == exitOK || !strings.Contains(r.stderr, "bucket does not exist") {
		t.Fatalf("stats of a missing bucket: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestRemoteURLSecretsNotEchoed: a remote URL holding credentials is
// refused without repeating them, whichever check refuses it first.
func TestRemoteURLSecretsNotEchoed(t *testing.T) {
	t.Parallel()
	for _, url := range []string{
		"file://AKIDKEY:KEYSECRET@/nonexistent/pcache",
		"file://AKIDKEY:KEYSECRET@" + t.TempDir(),
		"s3://AKIDKEY:KEY/SECRET@bucket/p",
		"s3://bucket/p?endpoint=http://AKIDKEY:KEYSECRET@127.0.0.1:1",
		"s3://bucket/p?secret_key=KEYSECRET",
	} {
		r := runCLI(t, "remote", "stats", "-remote", url)
		if r.code == exitOK || strings.Contains(r.stdout+r.stderr, "KEYSECRET") || strings.Contains(r.stdout+r.stderr, "SECRET@") || strings.Contains(r.stdout+r.stderr, "AKIDKEY") {
			t.Errorf("remote stats -remote %s: exit %d\n%s%s", url, r.code, r.stdout, r.stderr)
		}
	}
}
