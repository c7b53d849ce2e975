package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/pcache/pcache/internal/maintain"
)

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func init() {
	commands = append(commands, &command{
		name:    "ls",
		summary: "list the functions, or the cached calls of one function",
		usage: `Usage: pcache-fsck ls [NAME] [-key HASH|PREFIX ...] [-diff HASH|PREFIX] [-dir DIR] [-json]

Without NAME, ls lists the functions of the cache with their entry counts
and sizes. With NAME, it prints one line per live entry of that function:
the first 12 hex digits of its key hash (what rm -key takes; Func.Key returns
the whole hash), the result size (and out files'), when it was created and
last used (RFC 3339, local time; hits record a use at most hourly), and the
call's arguments by name. With -json every field is printed in full,
out-file paths included.

-diff PREFIX shows how the entry it names differs from the other entries
of NAME, nearest first: the arguments whose values differ, with both
values (Epochs: 12 (stored: 10)). From code, Func.Explain does the same
for a call that missed.

Examples:
  pcache-fsck ls
  pcache-fsck ls my/project/embed
  pcache-fsck ls my/project/embed -key 3fa2
  pcache-fsck ls my/project/embed -json | jq -r '.[].key_hash'
  pcache-fsck ls my/project/embed -diff 3fa2
`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(new(multiFlag), "key", "only entries whose key hash starts with this hex `prefix` (repeatable)")
			fs.String("diff", "", "show how the entry with this key hash `prefix` differs from the others, nearest first")
		},
		run: runLsCmd,
	})
}

func runLsCmd(e *env, fs *flag.FlagSet, args []string) error {
	keys := *fs.Lookup("key").Value.(*multiFlag)
	if err := validPrefixes("-key", keys); err != nil {
		return err
	}
	diff := fs.Lookup("diff").Value.String()
	if diff != "" {
		if err := validPrefixes("-diff", []string{diff}); err != nil {
			return err
		}
	}
	if len(args) > 1 {
		return usagef("ls takes at most one function NAME")
	}
	c, err := e.open()
	if err != nil {
		return err
	}
	if len(args) == 0 {
		if len(keys) > 0 || diff != "" {
			return usagef("-key and -diff need a function NAME")
		}
		rep, err := c.Stats()
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.stdout, rep.Functions)
		}
		printFunctions(e.stdout, rep.Functions)
		return nil
	}
	if diff != "" {
		entry, near, err := c.Diff(args[0], diff, 10)
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.stdout, map[string]any{"entry": entry, "nearest": near})
		}
		printDiff(e.stdout, entry, near)
		return nil
	}
	list, err := c.List(args[0], keys)
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.stdout, list)
	}
	printLs(e.stdout, list)
	return nil
}

// validPrefixes checks key hash prefixes given as what (-key, -diff, or a
// KEY argument), naming it in the error.
func validPrefixes(what string, keys []string) error {
	for _, k := range keys {
		if err := maintain.ValidPrefix(k); err != nil {
			return usagef("%s: %s", what, errorMessage(err, ""))
		}
	}
	return nil
}

func printFunctions(w io.Writer, fns []maintain.FuncStats) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tENTRIES\tBYTES\tNEWEST")
	for _, f := range fns {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", f.Name, f.Entries, humanBytes(f.Bytes), optTime(f.Newest))
	}
	tw.Flush()
}

func printLs(w io.Writer, list []maintain.EntryInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSIZE\tCREATED\tLAST USED\tARGUMENTS")
	for _, e := range list {
		size := humanBytes(e.Size)
		for _, o := range e.OutFiles {
			size += fmt.Sprintf(" +%s %s", o.Arg, humanBytes(o.Size))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.KeyHash[:12], size, optTime(e.Created), optTime(e.LastUsed), e.Key)
		for _, o := range e.OutFiles {
			if n := len(o.Paths); n > 0 {
				fmt.Fprintf(tw, "\t\t\t\t%s -> %s\n", o.Arg, o.Paths[n-1])
			}
		}
	}
	tw.Flush()
}

func printDiff(w io.Writer, entry maintain.EntryInfo, near []maintain.Near) {
	fmt.Fprintf(w, "%s  %s\n", entry.KeyHash[:12], entry.Key)
	if len(near) == 0 {
		fmt.Fprintln(w, "  no other entry of this function to compare with")
		return
	}
	for _, n := range near {
		fmt.Fprintf(w, "%s  %s, created %s\n", n.Entry.KeyHash[:12], plural(len(n.Differences), "difference", "differences"), optTime(n.Entry.Created))
		for _, d := range n.Differences {
			fmt.Fprintf(w, "    %s\n", strings.Replace(d.String(), "(stored: ", "(there: ", 1))
		}
	}
}
