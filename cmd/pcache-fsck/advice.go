package main

import (
	"errors"
	"strings"

	"github.com/pcache/pcache/internal/maintain"
)

// The library (package maintain) names what fixes a problem in its own terms (a
// maintain.Fix, a typed error); pcache-fsck turns that into the command to run.

// fixCommand is the pcache-fsck command line that does fix for the cache
// in dir.
func fixCommand(fix maintain.Fix, dir string) string {
	d := " -dir " + shellQuote(dir)
	switch fix {
	case maintain.FixRepair:
		return "pcache-fsck check -repair" + d
	case maintain.FixCheck:
		return "pcache-fsck check" + d
	case maintain.FixGC:
		return "pcache-fsck gc" + d
	}
	return "pcache-fsck " + string(fix) + d // a fix this pcache-fsck does not know: its name
}

// fixCommands turns a report's fixes into command lines.
func fixCommands(fixes []maintain.Fix, dir string) []string {
	var cmds []string
	for _, f := range fixes {
		cmds = append(cmds, fixCommand(f, dir))
	}
	return cmds
}

// damagedFix returns the command that fixes what a *maintain.DamagedError in
// err's chain says is damaged, and that error; "" when there is none. dir
// is the cache directory -dir named.
func damagedFix(err error, dir string) (string, *maintain.DamagedError) {
	var de *maintain.DamagedError
	if !errors.As(err, &de) || de.Fix == "" {
		return "", nil
	}
	if de.Dir != "" {
		dir = de.Dir
	}
	return fixCommand(de.Fix, dir), de
}

// errorMessage is the message pcache-fsck prints for a command's error:
// the library's, with what the user can do said as the command to run (the
// one that fixes the cache, or the one that lists what a name or key may
// be). dir is the cache directory -dir named ("" when unknown).
func errorMessage(err error, dir string) string {
	msg := err.Error()
	if cmd, de := damagedFix(err, dir); cmd != "" {
		return strings.Replace(msg, de.FixNote(), "", 1) + "; run " + cmd
	}
	var nf *maintain.NoFunctionError
	switch {
	case errors.As(err, &nf):
		d := nf.Dir
		if d == "" {
			d = dir
		}
		return msg + " (pcache-fsck ls -dir " + shellQuote(d) + " lists them)"
	case errors.Is(err, maintain.ErrBadKeyPrefix):
		return msg + " (see pcache-fsck ls NAME)"
	case errors.Is(err, maintain.ErrBadObjectID):
		return msg + " (pcache-fsck ls NAME -json prints them)"
	}
	return msg
}

// errorJSON is what -json prints on stdout for a command that failed: the
// error and, when the library names a fix, the command that does it.
func errorJSON(err error, dir string) any {
	if cmd, _ := damagedFix(err, dir); cmd != "" {
		return map[string]any{"error": err.Error(), "next": []string{cmd}}
	}
	return map[string]string{"error": err.Error()}
}
