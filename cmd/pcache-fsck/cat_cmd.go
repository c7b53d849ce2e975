package main

import (
	"flag"

	"github.com/pcache/pcache/internal/layout"
)

func init() {
	commands = append(commands, &command{
		name:    "cat-object",
		summary: "print one object's bytes (packed or loose), verified",
		usage: `Usage: pcache-fsck cat-object ID [-dir DIR]

(-json is refused: the output is the object's bytes.)

Cat-object writes the bytes of the object with this ID (64 hex digits; ls
NAME -json prints each entry's result and out-file objects) to standard
output, wherever it is stored: in a pack or as a loose file, raw or
compressed (objects/ab/<62 hex>.zst, decompressed here). The bytes are
verified first (streamed, for objects over 256 MiB); an object that does
not hash to its ID exits 1. So b3sum checks any object by hand:

Examples:
  pcache-fsck cat-object 3fa2…e9 | b3sum
  pcache-fsck ls my/func -json | jq -r '.[0].result' | xargs pcache-fsck cat-object > result.cbor
`,
		run: runCatCmd,
	})
}

func runCatCmd(e *env, fs *flag.FlagSet, args []string) error {
	if e.json {
		// The output is the object's bytes; there is nothing to put in JSON.
		return usagef("-json is not supported: cat-object writes the object's bytes (pcache-fsck ls NAME -json describes entries and their objects)")
	}
	if len(args) != 1 || len(args[0]) != 64 || !layout.IsLowerHex(args[0], 64) {
		return usagef("cat-object takes one object ID: 64 lowercase hex digits")
	}
	c, err := e.open()
	if err != nil {
		return err
	}
	_, err = c.CatObject(args[0], e.stdout)
	return err
}
