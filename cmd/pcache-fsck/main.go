// Command pcache-fsck checks, repairs, garbage-collects, inspects and moves
// pcache cache directories. It parses flags, calls package maintain and prints.
//
// Usage:
//
//	pcache-fsck [check] [-repair] [-dir DIR] [-json]   verify objects, manifests and references
//	pcache-fsck gc [-grace 1h] [-older-than 30d] [-max-size 10GB] [-dry-run]
//	pcache-fsck stats [NAME]                           entries, objects and bytes per function
//	pcache-fsck ls [NAME]                              the functions, or one line per cached call of NAME
//	pcache-fsck rm NAME [-key HASH|PREFIX ...]         drop a function or some of its entries
//	pcache-fsck export NAME FILE                       write NAME's entries and objects to a tar
//	pcache-fsck import FILE [NEWNAME]                  verify and add an exported tar
//	pcache-fsck cat-object ID                          one object's bytes, verified (for b3sum)
//	pcache-fsck init                                   make a new, empty cache
//	pcache-fsck remote check|gc|stats [-remote URL]     the shared remote ($PCACHE_REMOTE)
//
// Every subcommand takes -dir (default: $PCACHE_DIR, else the user cache
// directory's "pcache"), -json for machine-readable output, and -h. Every
// subcommand but init refuses a directory that is not a pcache cache.
//
// Exit status: 0 when the command succeeded and (for check) the cache is clean,
// hints allowed; 1 when problems were found or the command failed (a
// directory that is not a cache, or cannot be read, included); 2 on a usage
// error (bad flags or arguments; -h is not one).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/maintain"
	_ "github.com/pcache/pcache/remote/s3" // s3:// remotes: pcache-fsck always has the S3 backend
)

// Exit codes.
const (
	exitOK       = 0 // success; check found nothing worse than hints
	exitProblems = 1 // check found problems, or the command failed
	exitUsage    = 2 // bad flags or arguments (never -h, never a bad directory)
)

// usageError is a mistake on the command line; it exits with exitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errProblems tells run that the command printed its findings and must exit
// with exitProblems without printing anything more.
var errProblems = errors.New("problems found")

// version is the release this binary belongs to.
const version = "pcache-fsck (pcache) 0.2.0"

// env is what every subcommand gets from main: its output streams and the
// common flags.
type env struct {
	cmd    string // the subcommand's name
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	dir    string // resolved cache directory
	json   bool
}

type command struct {
	name    string
	summary string
	usage   string // synopsis and examples, printed by -h
	run     func(e *env, fs *flag.FlagSet, args []string) error
	flags   func(fs *flag.FlagSet) // subcommand flags (besides -dir and -json)
}

var commands []*command // filled by init functions in the subcommand files

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const topUsage = `pcache-fsck checks and maintains a pcache cache directory.

Usage:
  pcache-fsck [command] [flags] [args]

Commands:
%s
With no command, pcache-fsck runs check. Every command takes -dir DIR
(default: $PCACHE_DIR, else the "pcache" directory under the user cache
directory), -json, and -h for its own help and examples.

Exit status: 0 success (check: clean, hints allowed), 1 problems found or
command failed (a directory that is not a cache included), 2 usage error.
`

// commandOrder is the order commands are listed in the help.
var commandOrder = []string{"check", "gc", "stats", "ls", "rm", "cat-object", "export", "import", "init", "remote"}

func printTopUsage(w io.Writer) {
	var b strings.Builder
	for _, name := range commandOrder {
		for _, c := range commands {
			if c.name == name {
				fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
			}
		}
	}
	fmt.Fprintf(w, topUsage, b.String())
}

// run executes one pcache-fsck invocation and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := "check"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	} else if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		printTopUsage(stdout)
		return exitOK
	} else if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		fmt.Fprintln(stdout, version)
		return exitOK
	}
	if name == "help" {
		if len(args) == 1 && !strings.HasPrefix(args[0], "-") {
			return run(ctx, []string{args[0], "-h"}, stdout, stderr) // help CMD
		}
		printTopUsage(stdout)
		return exitOK
	}
	var cmd *command
	for _, c := range commands {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "pcache-fsck: unknown command %q\n\n", name)
		printTopUsage(stderr)
		return exitUsage
	}

	fs := flag.NewFlagSet("pcache-fsck "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &env{cmd: cmd.name, ctx: ctx, stdout: stdout, stderr: stderr}
	fs.StringVar(&e.dir, "dir", "", "cache `directory` (default $PCACHE_DIR, else <user cache dir>/pcache)")
	fs.BoolVar(&e.json, "json", false, "print machine-readable JSON on stdout")
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	// A flag error prints the error (flag does) and a pointer to the help,
	// not the whole help; -h prints the help on stdout and nothing else.
	// (flag calls Usage for both, so the pointer is printed here.)
	fs.Usage = func() {}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, cmd.usage)
		fmt.Fprintln(stdout, "\nFlags:")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "run 'pcache-fsck %s -h' for usage\n", cmd.name)
		return exitUsage // flag already printed the error
	}
	if e.dir == "" {
		d, err := layout.DefaultDir()
		if err != nil {
			fmt.Fprintf(stderr, "pcache-fsck %s: %v\n", cmd.name, err)
			return exitProblems
		}
		e.dir = d
	}
	if abs, err := filepath.Abs(e.dir); err == nil {
		e.dir = abs // printed commands and paths then work from anywhere
	}
	err = cmd.run(e, fs, pos)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errProblems):
		return exitProblems
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "pcache-fsck %s: %v\n", cmd.name, err)
		fmt.Fprintf(stderr, "run 'pcache-fsck %s -h' for usage\n", cmd.name)
		return exitUsage
	case errors.Is(err, layout.ErrNotCache):
		// Not a usage error: the command line was fine, the directory is not.
		fmt.Fprintf(stderr, "pcache-fsck %s: %v; point -dir or $%s at a cache, or make one with pcache-fsck init -dir DIR\n",
			cmd.name, err, layout.EnvDir)
		if e.json {
			writeJSON(stdout, map[string]string{"error": err.Error()})
		}
		return exitProblems
	default:
		if e.json {
			writeJSON(stdout, errorJSON(err, e.dir))
		}
		fmt.Fprintf(stderr, "pcache-fsck %s: %s\n", cmd.name, errorMessage(err, e.dir))
		return exitProblems
	}
}

// open opens the cache -dir names for maintenance. A cache whose marker is
// damaged is opened only by check, which reports it and, with -repair,
// rewrites it: every other command refuses, naming the fix, rather than
// work (and print success) while the problem remains.
func (e *env) open() (*maintain.Cache, error) {
	c, err := maintain.Open(e.dir)
	if err != nil {
		return nil, err
	}
	if err := c.MarkerProblem(); err != nil && e.cmd != "check" {
		return nil, fmt.Errorf("%w; pcache-fsck check -repair -dir %s rewrites it", err, shellQuote(e.dir))
	}
	return c, nil
}

// openToChange opens the cache for a command that changes it: only a cache
// of this user's own, or one $PCACHE_SAFE_DIRECTORY names (git's
// safe.directory), so root's gc never runs on someone else's cache by
// accident.
func (e *env) openToChange() (*maintain.Cache, error) {
	c, err := e.open()
	if err != nil {
		return nil, err
	}
	if err := c.CheckOwner(); err != nil {
		return nil, err
	}
	return c, nil
}

// writeJSON prints v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// progress draws bars on stderr for long work when stderr is a terminal.
func (e *env) progress() maintain.Progress { return barProgress{e.stderr} }

// waiting tells the user what a command waits for.
func (e *env) waiting(cmd string) func() {
	return func() {
		fmt.Fprintf(e.stderr, "pcache-fsck %s: waiting for writers to finish (the gc lock in %s)...\n", cmd, layout.New(e.dir).Locks())
	}
}

// parseInterleaved parses flags that may appear before, between or after
// positional arguments ("rm NAME -key abc") and returns the positionals.
// Everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
