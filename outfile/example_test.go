package outfile_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/outfile"
)

func Example() {
	dir, err := os.MkdirTemp("", "outfile-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := cas.Open(filepath.Join(dir, "cache"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// A function wrote a report; keep it.
	report := filepath.Join(dir, "run1", "report.txt")
	os.MkdirAll(filepath.Dir(report), 0o755)
	if err := os.WriteFile(report, []byte("accuracy 0.93\n"), 0o640); err != nil {
		log.Fatal(err)
	}
	f, err := outfile.Capture(store, report)
	if err != nil {
		log.Fatal(err)
	}

	// Later, elsewhere: the same file, without running the function.
	again := filepath.Join(dir, "run2", "report.txt")
	if err := outfile.Restore(store, f, again); err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(again)
	info, _ := os.Stat(again)
	fmt.Printf("%q %v %d\n", b, info.Mode().Perm(), f.Size)
	// Output:
	// "accuracy 0.93\n" -rw-r----- 14
}
