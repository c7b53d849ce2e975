// Command apisurface counts the names the module promises: the exported
// top-level names and the exported methods of exported types of every
// package a program outside the module can import (not internal/, cmd/ or
// examples/, no main packages, no tests).
//
//	go run ./internal/cmd/apisurface        # from the repository root
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/pcache/pcache/internal/cmd/apisurface/surface"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	per, err := surface.Count(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apisurface:", err)
		os.Exit(1)
	}
	var dirs []string
	total := 0
	for d, n := range per {
		dirs = append(dirs, d)
		total += n
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		fmt.Printf("%5d %s\n", per[d], d)
	}
	fmt.Printf("%5d total\n", total)
}
