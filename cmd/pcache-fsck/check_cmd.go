package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pcache/pcache/internal/maintain"
)

func init() {
	commands = append(commands, &command{
		name:    "check",
		summary: "verify every object hash, manifest record and reference (default)",
		usage: `Usage: pcache-fsck check [-repair] [-grace 1h] [-dir DIR] [-json]

Check runs in phases: manifests (headers, versions, checksums, torn tails,
canonical encoding), references (every live entry's objects exist with the
recorded size), objects (every object hashes to its name, read on all
cores). It prints one line per finding, "<kind> <path>: <detail>":

  errors: missing, size-mismatch, hash-mismatch, corrupt (not a regular
          file), unreadable, stray (a file among the objects that is no
          object), and the manifest problems manifest.Check reports
  hints:  dangling (no entry uses the object; gc removes it), stale-temp (an
          interrupted write older than -grace; gc removes it), quarantined

then a summary and the command that fixes what was found. It exits 0 when
there are no errors (hints allowed) and 1 otherwise.

With -repair (which holds the store's gc lock exclusively) it moves corrupt
objects and stray files to DIR/lost+found, rewrites damaged manifest files
from their good records, and drops the entries whose objects are missing or
corrupt, so their next call recomputes. Nothing is silently deleted.

Examples:
  pcache-fsck                           # check the default cache
  pcache-fsck check -dir ~/.cache/pcache
  pcache-fsck check -json | jq .errors
  pcache-fsck check -repair && pcache-fsck check
  pcache-fsck check | grep '^missing '
`,
		flags: func(fs *flag.FlagSet) {
			fs.Bool("repair", false, "quarantine corrupt objects, rewrite damaged manifests, drop broken entries")
			fs.Var(&ageFlag{d: time.Hour, set: true}, "grace", "temp files younger than this are in-flight writes, not findings (e.g. 0s, 30m, 2d)")
			fs.Bool("v", false, "print phase names on stderr")
			fs.Int("workers", 0, "hash workers (default one per CPU)")
		},
		run: runCheckCmd,
	})
}

func runCheckCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	opts := maintain.CheckOptions{
		Repair:   boolFlag(fs, "repair"),
		Grace:    fs.Lookup("grace").Value.(*ageFlag).d,
		Workers:  fs.Lookup("workers").Value.(flag.Getter).Get().(int),
		Progress: e.progress(),
		Waiting:  e.waiting("check"),
	}
	if opts.Workers < 0 {
		return usagef("-workers must not be negative")
	}
	if boolFlag(fs, "v") {
		opts.Phase = func(s string) { fmt.Fprintf(e.stderr, "pcache-fsck: %s\n", s) }
	}
	open := e.open
	if opts.Repair {
		open = e.openToChange
	}
	c, err := open()
	if err != nil {
		return err
	}
	rep, err := c.Check(e.ctx, opts)
	if rep != nil {
		for _, w := range rep.Warnings {
			fmt.Fprintf(e.stderr, "pcache-fsck check: warning: %s\n", w)
		}
		// Print what was found and done even if repair stopped early.
		if e.json && err == nil {
			if err := writeJSON(e.stdout, checkJSON{rep, fixCommands(rep.Next, rep.Dir)}); err != nil {
				return err
			}
		} else if !e.json {
			printCheck(e.stdout, rep)
		}
	}
	if err != nil {
		return err
	}
	if !rep.Clean {
		return errProblems
	}
	return nil
}

func boolFlag(fs *flag.FlagSet, name string) bool { return fs.Lookup(name).Value.String() == "true" }

// printCheck prints findings, repair actions, the summary and what to run
// next.
func printCheck(w io.Writer, rep *maintain.CheckReport) {
	for _, f := range rep.Findings {
		fmt.Fprintln(w, f.String())
	}
	if rep.Repair != nil {
		for _, a := range rep.Repair.Actions {
			fmt.Fprintln(w, a.String())
		}
	}
	rate := ""
	if rep.Seconds > 0 && rep.HashedBytes >= 64<<20 {
		rate = fmt.Sprintf(", %.2f GB/s", float64(rep.HashedBytes)/rep.Seconds/1e9)
	}
	fmt.Fprintf(w, "check: %s: %s, %s, %s (%s) in %.2fs%s: %s, %s\n", rep.Dir,
		plural(rep.Functions, "function", "functions"), plural(rep.Entries, "entry", "entries"),
		plural(rep.Objects, "object", "objects"), humanBytes(rep.ObjectBytes), rep.Seconds, rate,
		plural(rep.Errors, "error", "errors"), plural(rep.Hints, "hint", "hints"))
	if rr := rep.Repair; rr != nil {
		fmt.Fprintf(w, "repair: rewrote %s, quarantined %s, dropped %s, %d failed\n",
			plural(rr.Manifests, "manifest", "manifests"), plural(rr.Quarantined, "file", "files"),
			plural(rr.Dropped, "entry", "entries"), rr.Failed)
	}
	for _, n := range fixCommands(rep.Next, rep.Dir) {
		fmt.Fprintf(w, "next: %s\n", n)
	}
}

// checkJSON is check's -json output: the library's report, with "next"
// holding the commands that fix what was found (the report names the
// fixes; the commands are pcache-fsck's).
type checkJSON struct {
	*maintain.CheckReport
	Next []string `json:"next,omitempty"` // shadows the report's Next
}
