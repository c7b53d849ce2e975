package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pcache/pcache"
)

type trainArgs struct {
	Dataset string
	Epochs  int
	Out     string `pcache:",out"`
}

// TestKeyLsRm: the hash Func.Key returns is what ls prints for the entry
// and what rm -key removes, exactly that entry; ls renders arguments by
// name, times in RFC 3339, out-file paths; -diff names the argument that
// differs with both values.
func TestKeyLsRm(t *testing.T) {
	t.Parallel()
	dir, outs := t.TempDir(), t.TempDir()
	s, err := pcache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	train := pcache.MustWrap(s, "ml/train", func(_ context.Context, a trainArgs) (float64, error) {
		return float64(a.Epochs) / 100, os.WriteFile(a.Out, []byte("model"), 0o644)
	})
	args := []trainArgs{{"cifar", 10, filepath.Join(outs, "a.bin")}, {"cifar", 12, filepath.Join(outs, "b.bin")}, {"mnist", 10, filepath.Join(outs, "c.bin")}}
	var keys []string
	for _, a := range args {
		if _, err := train.Call(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		k, err := train.Key(a)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	s.Close()

	ls := runCLICode(t, exitOK, "ls", "ml/train", "-dir", dir).stdout
	for _, want := range []string{keys[0][:12], keys[1][:12], keys[2][:12], `Dataset="cifar" Epochs=10`, `Dataset="mnist" Epochs=10`,
		filepath.Join(outs, "b.bin"), "+Out 5 B"} {
		if !strings.Contains(ls, want) {
			t.Errorf("ls does not show %q:\n%s", want, ls)
		}
	}
	if !regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`).MatchString(ls) {
		t.Errorf("ls shows no RFC 3339 time:\n%s", ls)
	}
	if fns := runCLICode(t, exitOK, "ls", "-dir", dir).stdout; !strings.Contains(fns, "ml/train") || !strings.Contains(fns, "3") {
		t.Errorf("ls without a name:\n%s", fns)
	}

	diff := runCLICode(t, exitOK, "ls", "ml/train", "-diff", keys[0][:8], "-dir", dir).stdout
	if !strings.Contains(diff, "Epochs: 10 (there: 12)") || !strings.Contains(diff, `Dataset: "cifar" (there: "mnist")`) {
		t.Errorf("ls -diff:\n%s", diff)
	}

	runCLICode(t, exitOK, "rm", "ml/train", "-key", keys[1], "-dir", dir)
	ls = runCLICode(t, exitOK, "ls", "ml/train", "-dir", dir).stdout
	if strings.Contains(ls, keys[1][:12]) || !strings.Contains(ls, keys[0][:12]) || !strings.Contains(ls, keys[2][:12]) {
		t.Fatalf("rm -key removed the wrong entries:\n%s", ls)
	}
	s, _ = pcache.Open(dir)
	defer s.Close()
	train = pcache.MustWrap(s, "ml/train", func(_ context.Context, a trainArgs) (float64, error) { return -1, os.WriteFile(a.Out, nil, 0o644) })
	for i, a := range args {
		in, err := train.Contains(context.Background(), a)
		if err != nil || in != (i != 1) {
			t.Errorf("after rm -key of entry 1, entry %d cached: %v, %v", i, in, err)
		}
	}
}
