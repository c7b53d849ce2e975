package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pcache/pcache/internal/maintain"
)

func init() {
	commands = append(commands, &command{
		name:    "gc",
		summary: "remove unreferenced objects and stale temp files; evict by age or size",
		usage: `Usage: pcache-fsck gc [-grace 1h] [-older-than AGE] [-max-size SIZE] [-dry-run] [-v] [-dir DIR] [-json]

Gc holds the store's gc lock exclusively (writers in flight finish first and
new ones wait; -dry-run needs only read access, and when it cannot take the
lock it plans without it and warns that the plan may be racy), reads every
manifest, and refuses to run if any of them cannot
be read or has problems (run check -repair first): deleting on a partial view
could lose objects a live entry needs. Then it plans, and unless -dry-run,
executes (-dry-run prints the plan):

  1. -older-than AGE: drop entries whose last use is older than AGE. Hits
     record a use at most once per hour, so AGE is measured from one hour
     before the last recorded use.
  2. -max-size SIZE: drop least-recently-used entries until the objects the
     remaining entries use (each counted once) fit in SIZE; the entries
     dropped are listed.
  3. Compact every manifest.
  4. Delete objects no remaining entry uses, stale temp files, and per-key
     and journal lock files nobody holds or will take again, all only when
     older than -grace (objects of entries dropped in steps 1-2 go at once).

AGE and -grace take Go durations (90m, 12h) or days (30d); -older-than 0 is
refused (leave it out for no age limit). SIZE takes bytes or K, M, G, T
(powers of 1000), KiB, MiB, GiB, TiB (powers of 1024): 10G, 512MiB.
Invalid values are refused, never replaced by a default.

Examples:
  pcache-fsck gc                        # collect garbage older than an hour
  pcache-fsck gc -dry-run -v            # show what would go
  pcache-fsck gc -older-than 30d        # forget calls unused for 30 days
  pcache-fsck gc -max-size 10G          # keep the cache under 10 GB, LRU
  pcache-fsck gc -grace 0s              # no grace period (writers still safe: gc takes the lock)
`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(&ageFlag{d: time.Hour, set: true}, "grace", "keep unreferenced objects and temp files younger than this (e.g. 0s, 30m, 2d)")
			fs.Var(&ageFlag{positive: true}, "older-than", "drop entries not used for this long (e.g. 30d, 12h)")
			fs.Var(&sizeFlag{}, "max-size", "drop least-recently-used entries until the cache fits (e.g. 10G, 512MiB)")
			fs.Bool("dry-run", false, "print the plan; change nothing")
			fs.Bool("v", false, "print one line per removed object and file")
		},
		run: runGCCmd,
	})
}

func runGCCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	opts := maintain.GCOptions{
		Grace:     fs.Lookup("grace").Value.(*ageFlag).d,
		OlderThan: fs.Lookup("older-than").Value.(*ageFlag).d,
		MaxSize:   fs.Lookup("max-size").Value.(*sizeFlag).n,
		Verbose:   boolFlag(fs, "v"),
		Progress:  e.progress(),
		Waiting:   e.waiting("gc"),
		DryRun:    boolFlag(fs, "dry-run"),
	}
	open := e.openToChange
	if opts.DryRun {
		open = e.open
	}
	c, err := open()
	if err != nil {
		return err
	}
	plan, err := c.PlanGC(e.ctx, opts)
	if err != nil {
		return err
	}
	rep := &plan.Report
	if opts.DryRun {
		plan.Close()
	} else if rep, err = plan.Execute(e.ctx); err != nil {
		return err
	}
	if e.json {
		if err := writeJSON(e.stdout, gcJSON{rep, fixCommands(rep.Next, rep.Dir)}); err != nil {
			return err
		}
	} else {
		printGC(e.stdout, rep, opts)
	}
	if len(rep.Errors) > 0 {
		return errProblems
	}
	return nil
}

func printGC(w io.Writer, rep *maintain.GCReport, opts maintain.GCOptions) {
	verb, prefix, compacted := "removed", "gc", "compacted"
	if rep.DryRun {
		verb, prefix, compacted = "would remove", "gc (dry run)", "would compact"
	}
	for _, ev := range rep.Evicted {
		fmt.Fprintf(w, "%s entry %s\n", verb, ev)
	}
	for _, it := range rep.Items {
		fmt.Fprintln(w, it)
	}
	fmt.Fprintf(w, "%s: %s %s, %s (%s), %s (%s), %s; %s %s\n", prefix, verb,
		plural(rep.EntriesEvicted, "entry", "entries"),
		plural(rep.ObjectsRemoved, "object", "objects"), humanBytes(rep.BytesRemoved),
		plural(rep.TempRemoved, "temp file", "temp files"), humanBytes(rep.TempBytes),
		plural(rep.LocksRemoved, "lock file", "lock files"),
		compacted, plural(rep.Compacted, "manifest", "manifests"))
	// Only the limits that were given: "0 not used for 0s" says nothing.
	var why []string
	if opts.OlderThan > 0 {
		why = append(why, fmt.Sprintf("%d not used for %s", rep.EvictedOld, opts.OlderThan))
	}
	if opts.MaxSize > 0 {
		why = append(why, fmt.Sprintf("%d over -max-size %s", rep.EvictedSize, humanBytes(opts.MaxSize)))
	}
	if len(why) > 0 {
		fmt.Fprintf(w, "%s: entries: %s\n", prefix, strings.Join(why, ", "))
	}
	fmt.Fprintf(w, "%s: kept %s, %s (%s)", prefix, plural(rep.EntriesKept, "entry", "entries"),
		plural(rep.ObjectsKept, "object", "objects"), humanBytes(rep.BytesKept))
	if rep.YoungUnreferenced > 0 {
		fmt.Fprintf(w, "; %s (%s) younger than -grace %s kept",
			plural(rep.YoungUnreferenced, "unreferenced object", "unreferenced objects"), humanBytes(rep.YoungBytes), opts.Grace)
	}
	fmt.Fprintln(w)
	for _, k := range rep.Kept {
		fmt.Fprintf(w, "%s: kept %s\n", prefix, k)
	}
	if rep.MissingRefs > 0 {
		fmt.Fprintf(w, "%s: warning: %s reference missing objects; run pcache-fsck check -repair -dir %s\n", prefix,
			plural(rep.MissingRefs, "entry", "entries"), shellQuote(rep.Dir))
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "%s: warning: %s\n", prefix, warn)
	}
	for _, n := range fixCommands(rep.Next, rep.Dir) {
		fmt.Fprintf(w, "next: %s\n", n)
	}
}

// gcJSON is gc's -json output: the library's report, with "next" holding
// the commands that fix what its errors say (as check's does).
type gcJSON struct {
	*maintain.GCReport
	Next []string `json:"next,omitempty"` // shadows the report's Next
}
