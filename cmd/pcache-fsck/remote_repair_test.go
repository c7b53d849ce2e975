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
)

// TestRemoteCheckRepairReplacesCorruptObject (issue 22, item 7): remote
// check -verify -repair deletes an object whose content is not its name's,
// so the next machine that computes its entry uploads a good copy (a
// create-only upload of it was refused as "exists" before).
func TestRemoteCheckRepairReplacesCorruptObject(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 5
	url := fillRemote(t, dir, "remote/repair", n)
	objs, _ := filepath.Glob(filepath.Join(dir, "objects", "*"))
	if len(objs) != n {
		t.Fatalf("%d objects", len(objs))
	}
	b, _ := os.ReadFile(objs[2])
	b[len(b)/2] ^= 1
	os.WriteFile(objs[2], b, 0o644)

	r := runCLICode(t, exitProblems, "remote", "check", "-remote", url, "-verify")
	if !strings.Contains(r.stdout, remote.KindBadObject) {
		t.Fatalf("check -verify does not report the flipped object:\n%s", r.stdout)
	}
	r = runCLICode(t, exitOK, "remote", "check", "-remote", url, "-verify", "-repair")
	if !strings.Contains(r.stdout, "repair: deleted objects/") {
		t.Fatalf("check -verify -repair:\n%s", r.stdout)
	}
	if got := served(t, url, "remote/repair", n); got != n-1 {
		t.Fatalf("%d of %d served after the repair; want all but the damaged one", got, n)
	}
	// A machine that needs it computes it and uploads it again.
	s, err := pcache.Open(t.TempDir(), pcache.Remote(url))
	if err != nil {
		t.Fatal(err)
	}
	f := pcache.MustWrap(s, "remote/repair", func(_ context.Context, i int) ([]byte, error) {
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
	if got := served(t, url, "remote/repair", n); got != n {
		t.Fatalf("%d of %d served after the damaged entry was computed again", got, n)
	}
	runCLICode(t, exitOK, "remote", "check", "-remote", url, "-verify")
	runCLICode(t, exitUsage, "remote", "stats", "-remote", url, "-repair")
}
