package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/pcache/pcache/internal/maintain"
)

func init() {
	commands = append(commands, &command{
		name:    "rm",
		summary: "drop a function, or some of its entries (objects stay for gc)",
		usage: `Usage: pcache-fsck rm NAME [-key HASH|PREFIX ...] [KEY ...] [-dry-run] [-dir DIR] [-json]

Without keys, rm drops every entry of function NAME. With keys (full
64-digit key hashes or prefixes of at least 4 digits, as ls prints them and
Func.Key returns them; given with -key or as extra arguments), it drops
those entries only. A prefix that matches more than one entry, or no entry,
is an error and nothing is dropped. Dropping appends a tombstone: it is
safe beside running programs, never rewrites another writer's file, and
survives copying caches into each other. The next call of a dropped entry
recomputes it. Objects are left in place for gc, which removes them once
nothing uses them.

Examples:
  pcache-fsck rm my/project/embed                 # forget the whole function
  pcache-fsck rm my/project/embed -key 3fa2c1d09e7b
  pcache-fsck rm my/project/embed 3fa2 77b0 -dry-run
  pcache-fsck rm my/project/embed && pcache-fsck gc
`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(new(multiFlag), "key", "drop the entry whose key hash is or starts with this hex `hash` (repeatable)")
			fs.Bool("dry-run", false, "print what would be dropped; change nothing")
		},
		run: runRmCmd,
	})
}

func runRmCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) < 1 {
		return usagef("rm takes a function NAME and optional keys")
	}
	flagKeys := *fs.Lookup("key").Value.(*multiFlag)
	if err := validPrefixes("-key", flagKeys); err != nil {
		return err
	}
	if err := validPrefixes("KEY argument", args[1:]); err != nil {
		return err
	}
	keys := append(append([]string(nil), flagKeys...), args[1:]...)
	open := e.openToChange
	if boolFlag(fs, "dry-run") {
		open = e.open
	}
	c, err := open()
	if err != nil {
		return err
	}
	rep, err := c.Remove(e.ctx, args[0], keys, boolFlag(fs, "dry-run"))
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.stdout, rep)
	}
	printRm(e.stdout, rep)
	return nil
}

func printRm(w io.Writer, rep *maintain.RemoveReport) {
	verb := "removed"
	if rep.DryRun {
		verb = "would remove"
	}
	for _, e := range rep.Removed {
		fmt.Fprintf(w, "%s entry %s %s: %s\n", verb, rep.Name, e.KeyHash[:12], e.Key)
	}
	what := plural(len(rep.Removed), "entry", "entries") + " of " + rep.Name
	if rep.Function {
		what = "every entry of " + rep.Name + " (" + plural(len(rep.Removed), "entry", "entries") + ")"
	}
	fmt.Fprintf(w, "rm: %s %s; objects stay until: pcache-fsck gc -dir %s\n", verb, what, shellQuote(rep.Dir))
}
