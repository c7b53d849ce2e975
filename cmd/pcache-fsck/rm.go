package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/pcache/pcache/internal/gclock"
	"github.com/pcache/pcache/manifest"
)

func init() {
	commands = append(commands, &command{
		name:    "rm",
		summary: "drop a function, or some of its entries (objects stay for gc)",
		usage: `Usage: pcache-fsck rm NAME [-key HASH|PREFIX ...] [KEY ...] [-dry-run] [-dir DIR] [-json]

Without keys, rm drops function NAME entirely. With keys (full 64-digit key
hashes or prefixes of at least 4 digits, as ls prints them; given with -key
or as extra arguments), it drops those entries only. A prefix that matches
more than one entry, or no entry, is an error and nothing is dropped.
The next call of a dropped entry recomputes it. Objects are left in place
for gc, which removes them once nothing uses them. Dropping a whole function
is maintenance: stop the programs that write it first, or their next records
land in a journal rm has already deleted.

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

type rmReport struct {
	Dir      string    `json:"dir"`
	Name     string    `json:"name"`
	Function bool      `json:"whole_function"` // the whole function was dropped
	DryRun   bool      `json:"dry_run"`
	Removed  []lsEntry `json:"removed"`
}

func runRmCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) < 1 {
		return usagef("rm takes a function NAME and optional keys")
	}
	keys := append(*fs.Lookup("key").Value.(*multiFlag), args[1:]...)
	if err := validPrefixes(keys); err != nil {
		return err
	}
	rep, err := rm(e, args[0], keys, fs.Lookup("dry-run").Value.String() == "true")
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.stdout, rep)
	}
	printRm(e.stdout, rep)
	return nil
}

func rm(e *env, name string, keys []string, dryRun bool) (*rmReport, error) {
	dir := e.dir
	store, err := openFuncStore(dir, name)
	if err != nil {
		return nil, err
	}
	// rm writes manifests like any writer: hold the gc lock shared so a
	// concurrent gc sees either all of this rm or none of it.
	if !dryRun {
		lk := gclock.NewShared(dir)
		if err := lk.Acquire(e.ctx); err != nil {
			return nil, err
		}
		defer lk.Release()
	}
	es, err := loadFunc(dir, name)
	if err != nil {
		return nil, err
	}
	rep := &rmReport{Dir: dir, Name: name, DryRun: dryRun, Removed: []lsEntry{}}
	if len(keys) == 0 {
		rep.Function = true
		for _, en := range es {
			rep.Removed = append(rep.Removed, describeEntry(store, en))
		}
		if !dryRun {
			if err := manifest.Remove(dir, name); err != nil {
				return nil, fmt.Errorf("remove function %s: %w", name, err)
			}
		}
		return rep, nil
	}
	var drop [][32]byte
	picked := map[[32]byte]bool{}
	for _, k := range keys {
		var matches []manifest.Entry
		for _, en := range es {
			if strings.HasPrefix(hex.EncodeToString(en.KeyHash[:]), k) {
				matches = append(matches, en)
			}
		}
		switch {
		case len(matches) == 0:
			return nil, fmt.Errorf("no entry of %s has a key hash starting with %s (nothing dropped)", name, k)
		case len(matches) > 1:
			var hs []string
			for _, m := range matches {
				hs = append(hs, shortHash(m.KeyHash))
			}
			if len(hs) > 5 {
				hs = append(hs[:5], "...")
			}
			return nil, fmt.Errorf("key prefix %s is ambiguous: %d entries of %s match (%s); nothing dropped",
				k, len(matches), name, strings.Join(hs, ", "))
		}
		m := matches[0]
		if !picked[m.KeyHash] {
			picked[m.KeyHash] = true
			drop = append(drop, m.KeyHash)
			rep.Removed = append(rep.Removed, describeEntry(store, m))
		}
	}
	if !dryRun {
		if err := deleteEntries(dir, name, drop); err != nil {
			return nil, fmt.Errorf("drop entries of %s: %w", name, err)
		}
	}
	return rep, nil
}

func printRm(w io.Writer, rep *rmReport) {
	verb := "removed"
	if rep.DryRun {
		verb = "would remove"
	}
	for _, e := range rep.Removed {
		fmt.Fprintf(w, "%s entry %s %s: %s\n", verb, rep.Name, e.KeyHash[:12], e.Key)
	}
	what := plural(len(rep.Removed), "entry", "entries") + " of " + rep.Name
	if rep.Function {
		what = "function " + rep.Name + " (" + plural(len(rep.Removed), "entry", "entries") + ")"
	}
	fmt.Fprintf(w, "rm: %s %s; objects stay until: pcache-fsck gc -dir %s\n", verb, what, shellQuote(rep.Dir))
}
