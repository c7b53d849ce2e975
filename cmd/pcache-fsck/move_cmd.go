package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/pcache/pcache/internal/archive"
	"github.com/pcache/pcache/internal/maintain"
)

func init() {
	commands = append(commands, &command{
		name:    "export",
		summary: "write one function's entries and objects to a tar file",
		usage: `Usage: pcache-fsck export NAME FILE [-dir DIR] [-json]

Export writes a self-contained tar of function NAME: a small header
(pcache-export.json: format, version, name, counts), the live entries as a
CBOR sequence (entries.cbor), and every object they reference, named
objects/ab/cdef… as their plain bytes (a compressed object decompressed:
b3sum checks each, any release imports them; the header then says
"compression": "zstd"). Objects are verified as they are read; an entry whose
objects are missing or corrupt is left out with a warning. FILE is written
atomically (temp file, then rename); "-" writes to stdout.

Examples:
  pcache-fsck export my/project/embed embed.tar
  pcache-fsck export my/project/embed - | ssh host pcache-fsck import -
  tar tf embed.tar | head
`,
		run: runExportCmd,
	}, &command{
		name:    "import",
		summary: "verify an exported tar and add its entries (under a new name if given)",
		usage: `Usage: pcache-fsck import FILE [NEWNAME] [-dir DIR] [-json]

Import reads a tar written by export ("-" reads stdin) into an existing
cache (make a new one with pcache-fsck init). Every object is hashed while it
is stored and must match its name; every entry must reference only objects
the archive holds. Anything else in the archive (a path with "..", an
absolute path, a link, an unknown file, an oversize header or entries file)
rejects the whole import, and no entry is added. Entries are added under the
exported name, or NEWNAME (which must follow the function name rule), stamped
with the time of the import (so they win over older records of the same
keys). Objects already in the store are shared, not copied. Objects of an
archive whose exporter compressed them are stored compressed again where
that pays.

Examples:
  pcache-fsck import embed.tar
  pcache-fsck import embed.tar my/project/embed-v1 -dir /data/cache
`,
		run: runImportCmd,
	}, &command{
		name:    "init",
		summary: "make a new, empty cache directory",
		usage: `Usage: pcache-fsck init [-dir DIR] [-json]

Init creates DIR (if needed) and makes it a pcache cache: it writes the
marker file every other command looks for. A directory that already holds
files and is not a cache is refused. (pcache.Open does the same on first
use; init is for importing into a new cache.)

Examples:
  pcache-fsck init -dir /data/cache && pcache-fsck import embed.tar -dir /data/cache
`,
		run: runInitCmd,
	})
}

func runExportCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) != 2 {
		return usagef("export takes a function NAME and an output FILE")
	}
	c, err := e.open()
	if err != nil {
		return err
	}
	name, file := args[0], args[1]
	var rep *archive.ExportReport
	out := e.stdout
	if file == "-" {
		out = e.stderr // the archive owns stdout
		rep, err = archive.Export(e.ctx, c, name, e.stdout, e.progress())
	} else {
		rep, err = archive.ExportFile(e.ctx, c, name, file, e.progress())
	}
	if err != nil {
		return err
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(e.stderr, "pcache-fsck export: warning: skipped %s\n", s)
	}
	if e.json {
		return writeJSON(out, rep)
	}
	fmt.Fprintf(out, "export: wrote %s and %s (%s) of %s to %s\n",
		plural(rep.Entries, "entry", "entries"), plural(rep.Objects, "object", "objects"),
		humanBytes(rep.Bytes), rep.Name, file)
	return nil
}

func runImportCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return usagef("import takes an archive FILE and an optional NEWNAME")
	}
	newName := ""
	if len(args) == 2 {
		if newName = args[1]; newName == "" {
			return usagef("NEWNAME must not be empty")
		}
	}
	c, err := e.openToChange()
	if err != nil {
		return err
	}
	in := os.Stdin
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return err // "open FILE: ..." names it
		}
		defer f.Close()
		in = f
	}
	rep, err := archive.Import(e.ctx, c, in, newName, e.progress())
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.stdout, rep)
	}
	fmt.Fprintf(e.stdout, "import: added %s to %s; %s verified (%s, %d new)\n",
		plural(rep.Entries, "entry", "entries"), rep.Name, plural(rep.Objects, "object", "objects"),
		humanBytes(rep.Bytes), rep.NewObjects)
	if s := rep.Overrides(); s != "" {
		fmt.Fprintln(e.stdout, "import: "+s)
	}
	if rep.Unchanged > 0 {
		fmt.Fprintf(e.stdout, "import: %s already held %s (unchanged)\n", rep.Name, plural(rep.Unchanged, "of these entries", "of these entries"))
	}
	return nil
}

func runInitCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	c, err := maintain.Init(e.dir)
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.stdout, map[string]string{"dir": c.Dir()})
	}
	fmt.Fprintf(e.stdout, "init: %s is a pcache cache\n", c.Dir())
	return nil
}
