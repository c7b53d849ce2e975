package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/pcache/pcache/internal/maintain"
)

func init() {
	commands = append(commands, &command{
		name:    "stats",
		summary: "entries, objects and bytes per function, and totals",
		usage: `Usage: pcache-fsck stats [NAME ...] [-dir DIR] [-json]

Stats prints one row per function (or per NAME given): live entries,
distinct objects they use, bytes (each object counted once) and apparent
bytes (counted once per entry that uses it), and the oldest and newest entry
creation times; then totals (objects shared between functions counted once)
and what is on disk, including objects no entry uses.

Examples:
  pcache-fsck stats
  pcache-fsck stats my/project/embed
  pcache-fsck stats -json | jq '.functions[] | select(.bytes > 1e9) | .name'
`,
		run: runStatsCmd,
	})
}

func runStatsCmd(e *env, fs *flag.FlagSet, args []string) error {
	c, err := e.open()
	if err != nil {
		return err
	}
	rep, err := c.Stats(args...)
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.stdout, rep)
	}
	printStats(e.stdout, rep)
	return nil
}

func optTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return formatTime(*t)
}

func printStats(w io.Writer, rep *maintain.StatsReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tENTRIES\tOBJECTS\tBYTES\tAPPARENT\tOLDEST\tNEWEST\t")
	row := func(s maintain.FuncStats) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", s.Name, s.Entries, s.Objects,
			humanBytes(s.Bytes), humanBytes(s.Apparent), optTime(s.Oldest), optTime(s.Newest))
	}
	for _, s := range rep.Functions {
		row(s)
	}
	row(rep.Total)
	tw.Flush()
	d := rep.Disk
	fmt.Fprintf(w, "disk: %s (%s), %s unreferenced (%s), %s (%s), %d in lost+found\n",
		plural(d.Objects, "object", "objects"), humanBytes(d.Bytes),
		plural(d.Unreferenced, "object", "objects"), humanBytes(d.UnrefBytes),
		plural(d.TempFiles, "temp file", "temp files"), humanBytes(d.TempBytes), d.LostAndFound)
}
