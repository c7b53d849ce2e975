package main

import (
	"debug/elf"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/pcache/pcache/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m, nil) }

// cgoPackages are the packages whose presence makes the toolchain link a
// program dynamically, against libc.
var cgoPackages = []string{"runtime/cgo", "os/user", "net", "plugin"}

// TestStaticBinary: a program that links pcache (this quickstart) is a
// static binary where the toolchain would make a cgo one if any package it
// links needed cgo (os/user through archive/tar, net's resolver): a
// dynamically linked program loads libc before main, 2-3 ms on every run
// of a command-line tool. The full run builds the quickstart and reads its
// ELF headers; -short lists its dependencies instead (no build).
func TestStaticBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks an ELF binary")
	}
	if testing.Short() {
		deps, err := testutil.GoList("-deps", "./examples/quickstart")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range deps {
			if slices.Contains(cgoPackages, d) {
				t.Fatalf("the quickstart depends on %s: programs that link pcache would be dynamically linked", d)
			}
		}
		return
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
			t.Fatalf("%s is dynamically linked (needs %v): a package the library imports needs cgo; `go list -deps .` names it (one of %s)",
				bin, libs, strings.Join(cgoPackages, ", "))
		}
	}
}
