package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzImport feeds arbitrary bytes to import in-process. Import must never
// panic, and an archive it accepts must leave a cache that check finds
// clean: every entry it added has all its objects, verified.
//
//	go test -run '^$' -fuzz FuzzImport -fuzztime 60s ./cmd/pcache-fsck
func FuzzImport(f *testing.F) {
	c := newTestCache(f)
	c.fill("f", 3, nil)
	e := &env{ctx: context.Background(), stdout: io.Discard, stderr: io.Discard, dir: c.dir}
	good := filepath.Join(f.TempDir(), "good.tar")
	if _, err := exportFunc(e, "f", good); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(b[:1024])
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "in.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cache := filepath.Join(dir, "cache")
		e := &env{ctx: context.Background(), stdout: io.Discard, stderr: io.Discard, dir: cache}
		if _, err := importArchive(e, p, "imported"); err != nil {
			return
		}
		rep, _, err := check(context.Background(), cache, checkOptions{grace: time.Hour, now: time.Now(), stderr: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Errors != 0 {
			t.Fatalf("accepted archive leaves a broken cache: %+v", rep.Findings)
		}
	})
}
