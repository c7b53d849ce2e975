package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	neturl "net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pcache/pcache/internal/remote"
)

func init() {
	commands = append(commands, &command{
		name:    "remote",
		summary: "check, gc or show a shared remote (s3:// or file://)",
		usage: `Usage: pcache-fsck remote check|gc|stats [-remote URL] [flags] [-json]

Remote works on the shared remote that $PCACHE_REMOTE (or -remote URL)
names: s3://BUCKET/PREFIX, with the endpoint and credentials from the
standard AWS variables, or file:///PATH. It never touches a local cache.

  check   read every function's index (log, checkpoints, segments) and
          every object's size, and report what is wrong: damaged index
          files, gaps in a log, entries whose objects are missing (dead
          records: calls that need them are computed). -verify also
          downloads every referenced object and checks its hash. -repair
          deletes the damaged files nobody can use that stand in the way
          of the remote healing: objects of the wrong size (or, with
          -verify, content), so that the next machine to compute such an
          entry uploads a good copy instead of being told "exists"; and
          checkpoints that do not read (gc leaves a function with one
          alone), pointing the head at the newest one that does.
  stats   one row per function: live entries, bytes of the objects they
          name, log length, newest checkpoint, segments a new reader reads,
          last use; then the objects on the remote and how many nothing
          names.
  gc      compact every function's log into a checkpoint; evict entries by
          -older-than AGE and -max-size SIZE (least recently used first, by
          the last use the index records) and drop dead records, both by
          publishing tombstones through the log like any writer; then delete
          what nothing names: objects, segments, log entries covered by a
          checkpoint older than -grace, older checkpoints. Anything written
          within -grace (default 24h) stays: a machine may be publishing it.
          An entry is never dropped while its objects are there, except by
          eviction, which removes both. A function whose index check finds
          damaged is left alone (run check -repair, or see what it says).

Examples:
  PCACHE_REMOTE=s3://team-cache/pcache pcache-fsck remote stats
  pcache-fsck remote check -remote file:///mnt/shared/pcache -verify
  pcache-fsck remote check -verify -repair
  pcache-fsck remote gc -max-size 500G -dry-run
  pcache-fsck remote gc -older-than 90d
`,
		flags: func(fs *flag.FlagSet) {
			fs.String("remote", "", "the remote's `URL` (default $PCACHE_REMOTE)")
			fs.Bool("verify", false, "check: download every referenced object and check its hash")
			fs.Bool("repair", false, "check: delete damaged objects and checkpoints (see above)")
			fs.Var(&ageFlag{d: 24 * time.Hour, set: true}, "grace", "gc: keep what was written more recently than this")
			fs.Var(&ageFlag{positive: true}, "older-than", "gc: evict entries not used for this long (e.g. 90d)")
			fs.Var(&sizeFlag{}, "max-size", "gc: evict least-recently-used entries until the objects fit (e.g. 500G)")
			fs.Bool("dry-run", false, "gc: print what would be done; change nothing")
		},
		run: runRemoteCmd,
	})
}

func runRemoteCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) != 1 {
		return usagef("want one of check, gc, stats")
	}
	switch args[0] { // the verb is checked before the remote is touched
	case "check", "gc", "stats":
	default:
		return usagef("unknown remote command %q: want check, gc or stats", args[0])
	}
	repair := boolFlag(fs, "repair")
	if repair && args[0] != "check" {
		return usagef("-repair goes with check")
	}
	url := fs.Lookup("remote").Value.String()
	if url == "" {
		url = strings.TrimSpace(os.Getenv(remote.EnvRemote))
	}
	if url == "" || url == "off" {
		return usagef("no remote: set $%s or give -remote URL", remote.EnvRemote)
	}
	if err := fileRemoteExists(url); err != nil {
		return err // before OpenBackend, which would create the directory
	}
	b, err := remote.OpenBackend(e.ctx, url)
	if err != nil {
		return usagef("%v", err)
	}
	switch args[0] {
	case "check", "stats":
		verify := args[0] == "check" && boolFlag(fs, "verify")
		opts := remote.InspectOptions{Verify: verify}
		rep, err := remote.Inspect(e.ctx, b, opts)
		if err != nil {
			return err
		}
		var rr *remote.RepairReport
		if repair && len(rep.Problems) > 0 {
			rr, err = remote.Repair(e.ctx, b, rep)
			if err != nil && rr == nil {
				return err
			}
		}
		if e.json {
			v := any(rep)
			if repair {
				v = struct {
					*remote.Report
					Repair *remote.RepairReport `json:"repair"`
				}{rep, rr}
			}
			if err := writeJSON(e.stdout, v); err != nil {
				return err
			}
		} else if args[0] == "stats" {
			printRemoteStats(e.stdout, rep)
		} else {
			printRemoteCheck(e.stdout, rep, verify)
			printRemoteRepair(e.stdout, rr)
		}
		if err != nil {
			return err
		}
		if args[0] == "check" && len(rep.Problems) > 0 && (rr == nil || len(rr.Left) > 0) {
			return errProblems // found, and not all of it repaired
		}
		return nil
	case "gc":
		opts := remote.GCOptions{
			Grace:     fs.Lookup("grace").Value.(*ageFlag).d,
			OlderThan: fs.Lookup("older-than").Value.(*ageFlag).d,
			MaxSize:   fs.Lookup("max-size").Value.(*sizeFlag).n,
			DryRun:    boolFlag(fs, "dry-run"),
		}
		if opts.Grace == 0 {
			opts.Grace = time.Nanosecond // "-grace 0s": nothing is young
		}
		rep, err := remote.GC(e.ctx, b, opts)
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.stdout, rep)
		}
		printRemoteGC(e.stdout, b.String(), rep, opts.DryRun)
	}
	return nil
}

// fileRemoteExists fails for a file:// remote whose directory is missing:
// the backend would list it as an empty remote ("0 functions"), hiding a
// mistyped path. (An S3 prefix has no such thing as existing.)
func fileRemoteExists(rawURL string) error {
	u, err := neturl.Parse(rawURL)
	if err != nil || u.Scheme != "file" {
		return nil
	}
	shown := remote.RedactURL(rawURL) // a URL with credentials is refused later: say nothing of them
	fi, err := os.Stat(u.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remote %s: directory %s does not exist", shown, u.Path)
	}
	if err != nil {
		return fmt.Errorf("remote %s: %w", shown, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("remote %s: %s is not a directory", shown, u.Path)
	}
	return nil
}

func printRemoteStats(w io.Writer, rep *remote.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tENTRIES\tBYTES\tLOG\tCHECKPOINT\tSEGMENTS\tLAST USE\t")
	entries := 0
	for _, f := range rep.Functions {
		last := "-"
		if !f.LastUse.IsZero() {
			last = formatTime(f.LastUse)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\t\n", f.Name, f.Entries, humanBytes(f.Bytes), f.Log, f.Checkpoint, f.Segments, last)
		entries += f.Entries
	}
	tw.Flush()
	fmt.Fprintf(w, "%s: %s, %s; %s (%s), %s unreferenced (%s)\n", rep.Remote,
		plural(len(rep.Functions), "function", "functions"), plural(entries, "entry", "entries"),
		plural(int(rep.Objects), "object", "objects"), humanBytes(rep.ObjectBytes),
		plural(int(rep.Unreferenced), "object", "objects"), humanBytes(rep.UnreferencedBytes))
}

func printRemoteCheck(w io.Writer, rep *remote.Report, verified bool) {
	for _, p := range rep.Problems {
		fmt.Fprintln(w, p)
	}
	what := "sizes"
	if verified {
		what = "contents"
	}
	entries := 0
	for _, f := range rep.Functions {
		entries += f.Entries
	}
	status := "clean"
	if n := len(rep.Problems); n > 0 {
		status = plural(n, "problem", "problems")
	}
	fmt.Fprintf(w, "%s: %s: %s, %s, %s checked (%s)\n", rep.Remote, status,
		plural(len(rep.Functions), "function", "functions"), plural(entries, "entry", "entries"),
		plural(int(rep.Objects), "object", "objects"), what)
}

func printRemoteRepair(w io.Writer, rr *remote.RepairReport) {
	if rr == nil {
		return
	}
	for _, p := range rr.Deleted {
		fmt.Fprintf(w, "repair: deleted %s\n", p.Key)
	}
	for _, f := range rr.HeadsMoved {
		fmt.Fprintf(w, "repair: the head of %s names its newest checkpoint that reads\n", f)
	}
	fmt.Fprintf(w, "repair: deleted %s; %s left as they are (readers skip them)\n",
		plural(len(rr.Deleted), "damaged file", "damaged files"), plural(len(rr.Left), "problem", "problems"))
}

func printRemoteGC(w io.Writer, name string, rep *remote.GCReport, dry bool) {
	verb := ""
	if dry {
		verb = " (dry run: nothing changed)"
	}
	fmt.Fprintf(w, "%s%s:\n", name, verb)
	for _, p := range rep.Refused {
		fmt.Fprintf(w, "  left %s alone: its index is damaged (%s); pcache-fsck remote check says more\n", p.Function, p)
	}
	fmt.Fprintf(w, "  evicted %s (%s), dropped %s\n", plural(rep.Evicted, "entry", "entries"), humanBytes(rep.EvictedBytes),
		plural(rep.DeadRecords, "dead record", "dead records"))
	fmt.Fprintf(w, "  compacted %s\n", plural(len(rep.Compacted), "function's log", "functions' logs"))
	if !dry {
		fmt.Fprintf(w, "  deleted %s (%s), %s, %s, %s; kept %s younger than the grace period\n",
			plural(rep.DeletedObjects, "object", "objects"), humanBytes(rep.DeletedBytes),
			plural(rep.DeletedSegments, "segment", "segments"), plural(rep.DeletedLog, "log entry", "log entries"),
			plural(rep.DeletedOther, "other file", "other files"), plural(rep.YoungKept, "unreferenced object", "unreferenced objects"))
	}
}
