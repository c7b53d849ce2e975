package main

import (
	"debug/elf"
	"os"
	"runtime"
	"testing"

	"github.com/pcache/pcache/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m, nil) }

// TestStaticBinary: a program that links pcache (this quickstart) is a
// static binary where the toolchain would make a cgo one if any package it
// links needed cgo (os/user through archive/tar, net's resolver): a
// dynamically linked program loads libc before main, 2-3 ms on every run
// of a command-line tool.
func TestStaticBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks an ELF binary")
	}
	if v, err := testutil.GoEnv("CGO_ENABLED"); err != nil || v != "1" {
		t.Skipf("cgo is off here (go env CGO_ENABLED: %q, %v): every binary is static", v, err)
	}
	bin := testutil.Tool(t, "examples/quickstart")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			libs, _ := f.ImportedLibraries()
			t.Fatalf("%s is dynamically linked (needs %v): a package the library imports needs cgo; `go list -deps .` names it (runtime/cgo, os/user, net)", bin, libs)
		}
	}
	if fi, err := os.Stat(bin); err != nil || fi.Size() == 0 {
		t.Fatalf("built %s: %v", bin, err)
	}
}
