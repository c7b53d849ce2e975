// Command floor is the floor of a fresh process: a Go program that links
// nothing of pcache and reads one small file. `firsthit spawn` times it
// beside a program that opens a cache and hits once.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: floor FILE")
		os.Exit(2)
	}
	if _, err := os.ReadFile(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}
