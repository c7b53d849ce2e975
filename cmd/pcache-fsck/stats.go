package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/pcache/pcache/cas"
)

func init() {
	commands = append(commands, &command{
		name:    "stats",
		summary: "entries, objects and bytes per function, and totals",
		usage: `Usage: pcache-fsck stats [-dir DIR] [-json]

Stats prints one row per function: live entries, distinct objects they use,
bytes (each object counted once) and apparent bytes (counted once per entry
that uses it), and the oldest and newest entry creation times; then totals
(objects shared between functions counted once) and what is on disk,
including objects no entry uses.

Examples:
  pcache-fsck stats
  pcache-fsck stats -json | jq '.functions[] | select(.bytes > 1e9) | .name'
`,
		run: runStatsCmd,
	})
}

// funcStats describes one function, or the totals.
type funcStats struct {
	Name     string     `json:"name"`
	Entries  int        `json:"entries"`
	Objects  int        `json:"objects"`
	Bytes    int64      `json:"bytes"`
	Apparent int64      `json:"apparent_bytes"`
	Oldest   *time.Time `json:"oldest,omitempty"`
	Newest   *time.Time `json:"newest,omitempty"`
}

type statsReport struct {
	Dir       string      `json:"dir"`
	Functions []funcStats `json:"functions"`
	Total     funcStats   `json:"total"`
	Disk      diskStats   `json:"disk"`
}

// diskStats is what the object store holds, referenced or not.
type diskStats struct {
	Objects      int   `json:"objects"`
	Bytes        int64 `json:"bytes"`
	Unreferenced int   `json:"unreferenced_objects"`
	UnrefBytes   int64 `json:"unreferenced_bytes"`
	TempFiles    int   `json:"temp_files"`
	TempBytes    int64 `json:"temp_bytes"`
	LostAndFound int   `json:"lost_and_found"`
}

func runStatsCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	rep, err := stats(e.dir)
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.stdout, rep)
	}
	printStats(e.stdout, rep)
	return nil
}

// entryTime converts Entry.Time (Unix nanoseconds) to a time.
func entryTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func stats(dir string) (*statsReport, error) {
	if err := requireCache(dir); err != nil {
		return nil, err
	}
	names, err := listFuncs(dir)
	if err != nil {
		return nil, err
	}
	rep := &statsReport{Dir: dir, Functions: []funcStats{}, Total: funcStats{Name: "TOTAL"}}
	all := map[cas.ID]int64{}
	for _, name := range names {
		es, err := loadFunc(dir, name)
		if err != nil {
			return nil, err
		}
		fsx := funcStats{Name: name, Entries: len(es)}
		seen := map[cas.ID]int64{}
		for _, e := range es {
			for id, r := range objectsOf(name, e) {
				seen[id] = r.Size
				all[id] = r.Size
				fsx.Apparent += r.Size
			}
			addTime(&fsx, entryTime(e.Time))
			addTime(&rep.Total, entryTime(e.Time))
		}
		fsx.Objects = len(seen)
		for _, n := range seen {
			fsx.Bytes += n
		}
		rep.Functions = append(rep.Functions, fsx)
		rep.Total.Entries += fsx.Entries
		rep.Total.Apparent += fsx.Apparent
	}
	rep.Total.Objects = len(all)
	for _, n := range all {
		rep.Total.Bytes += n
	}
	store, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	objs, _, err := scanObjects(store)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		rep.Disk.Objects++
		rep.Disk.Bytes += o.Size
		if _, ok := all[o.ID]; !ok {
			rep.Disk.Unreferenced++
			rep.Disk.UnrefBytes += o.Size
		}
	}
	temps, err := scanFlat(dir, "tmp")
	if err != nil {
		return nil, err
	}
	for _, t := range temps {
		rep.Disk.TempFiles++
		rep.Disk.TempBytes += t.Size
	}
	lost, err := scanFlat(dir, "lost+found")
	if err != nil {
		return nil, err
	}
	rep.Disk.LostAndFound = len(lost)
	return rep, nil
}

func addTime(s *funcStats, t time.Time) {
	if t.IsZero() {
		return
	}
	if s.Oldest == nil || t.Before(*s.Oldest) {
		s.Oldest = &t
	}
	if s.Newest == nil || t.After(*s.Newest) {
		s.Newest = &t
	}
}

func optTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return formatTime(*t)
}

func printStats(w io.Writer, rep *statsReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tENTRIES\tOBJECTS\tBYTES\tAPPARENT\tOLDEST\tNEWEST\t")
	row := func(s funcStats) {
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
