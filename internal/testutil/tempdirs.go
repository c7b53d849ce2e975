package testutil

import (
	"os"
	"testing"
)

// Run runs the tests of m with their temporary directories (t.TempDir,
// os.CreateTemp("", …), and those of the workers they start) under a
// directory of this process's own, removed afterwards, that the file
// system is asked to treat as the top of a hierarchy (markTopDir): each
// test's directory then lands where it finds room, rather than all of
// them near one parent. On a journal-less ext4 (this project's CI) each
// new inode skips every inode of its block group deleted in the last
// minute, so a suite that creates and removes thousands of files in one
// group paid for it on every create: the kernel was half the time of
// `go test -short ./...`. The file system and the files are the same;
// only where the test directories sit changes. It returns m.Run's code,
// after Cleanup.
func Run(m *testing.M) int {
	restore := spreadTempDirs()
	code := m.Run()
	Cleanup()
	restore()
	return code
}

// spreadTempDirs points TMPDIR at a new top-of-hierarchy directory and
// returns what removes it and restores TMPDIR. Where it cannot make one,
// the tests use the usual temporary directory.
func spreadTempDirs() (restore func()) {
	parent := os.TempDir()
	dir, err := os.MkdirTemp(parent, "pcache-tests-")
	if err != nil {
		return func() {}
	}
	// Workers run as another user create their files here too, as in /tmp.
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		os.Remove(dir)
		return func() {}
	}
	markTopDir(dir)
	old, had := os.LookupEnv("TMPDIR")
	os.Setenv("TMPDIR", dir)
	return func() {
		if had {
			os.Setenv("TMPDIR", old)
		} else {
			os.Unsetenv("TMPDIR")
		}
		os.RemoveAll(dir)
	}
}
