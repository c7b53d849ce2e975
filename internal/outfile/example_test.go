package outfile_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/outfile"
)

// A function wrote report.txt; its contents go into the store. Later the
// same result is wanted at another path: Restore writes it there without
// running the function, and leaves a path that already holds it alone.
func Example() {
	dir, err := os.MkdirTemp("", "outfile-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := cas.Open(layout.New(filepath.Join(dir, "cache")), cas.Options{})
	if err != nil {
		log.Fatal(err)
	}

	// The cached function ran and wrote its out file.
	first := filepath.Join(dir, "run1", "report.txt")
	os.MkdirAll(filepath.Dir(first), 0o755)
	os.WriteFile(first, []byte("42 widgets\n"), 0o644)
	rec, err := outfile.Capture(st, "Report", first)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("captured %s: %d bytes\n", rec.Arg, rec.Size)

	// A hit asks for the same file elsewhere: it is written from the store.
	// (Were the object lost, its contents could be recovered only from a
	// path this program passed: first is one.)
	second, err := outfile.Abs(filepath.Join(dir, "run2", "report.txt"))
	if err != nil {
		log.Fatal(err)
	}
	passed := func(p string) bool { return p == first }
	rec, changed, err := outfile.Restore(st, rec, second, passed)
	if err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(second)
	fmt.Printf("restored %q, record changed: %v, paths kept: %d\n", b, changed, len(rec.Paths))

	// A missing out file is an error, so the call is not cached.
	_, err = outfile.Capture(st, "Log", filepath.Join(dir, "never-written.log"))
	fmt.Println(err != nil && errors.Is(err, outfile.ErrMissing))
	// Output:
	// captured Report: 11 bytes
	// restored "42 widgets\n", record changed: true, paths kept: 2
	// true
}
