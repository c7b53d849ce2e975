// Command mkfixture writes the frozen test cache under testdata/: a cache
// written through the public API with results of several types, out files,
// batch entries, a compacted segment, live journals and a tombstone. The
// tests in fixture_test.go call the same functions (fixture.go) against a
// copy and require every entry to hit with the value computed here.
//
//	go run ./internal/cmd/mkfixture -dir testdata/cache-vN
//
// testdata/cache-v1 was written by the release before the format gained
// result-type fingerprints and packs (with this program as it was then);
// testdata/cache-v2 by the release that added packs, the remote tier and
// memoizers; testdata/cache-v3 by the release that added compression
// (layout version 2: fixture/text's results are compressed objects). Each
// release adds its own directory and never rewrites an earlier one.
package main

import (
	"flag"
	"log"
	"os"
	"os/exec"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", "", "cache directory to create (must not exist)")
	fsck := flag.String("fsck", "", "pcache-fsck binary, used to drop one entry (a tombstone)")
	flag.Parse()
	if *dir == "" {
		log.Fatal("mkfixture: -dir is required")
	}
	if _, err := os.Stat(*dir); err == nil {
		log.Fatalf("mkfixture: %s exists", *dir)
	}
	work, err := os.MkdirTemp("", "mkfixture-out")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	if err := write(*dir, work); err != nil {
		log.Fatal(err)
	}
	if *fsck != "" {
		key, err := squareKey(*dir, tombstoned)
		if err != nil {
			log.Fatal(err)
		}
		cmd := exec.Command(*fsck, "rm", "fixture/square", "-key", key, "-dir", *dir)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatal(err)
		}
	}
	abs, _ := filepath.Abs(*dir)
	log.Printf("mkfixture: wrote %s", abs)
}
