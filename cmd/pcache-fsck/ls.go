package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/keying"
	"github.com/pcache/pcache/manifest"
)

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func init() {
	commands = append(commands, &command{
		name:    "ls",
		summary: "list the cached calls of one function",
		usage: `Usage: pcache-fsck ls NAME [-key HASH|PREFIX ...] [-dir DIR] [-json]

Ls prints one line per live entry of function NAME: the first 12 hex digits
of its key hash (what rm -key takes), the result size, when it was created,
when it was last used (the result object's mtime, refreshed at most hourly),
and the key's arguments rendered readably (or the full key hash when the key
bytes were not kept).

Examples:
  pcache-fsck ls my/project/embed
  pcache-fsck ls my/project/embed -key 3fa2
  pcache-fsck ls my/project/embed -json | jq -r '.[].key_hash'
`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(new(multiFlag), "key", "only entries whose key hash starts with this hex `prefix` (repeatable)")
		},
		run: runLsCmd,
	})
}

// lsEntry is one line of ls.
type lsEntry struct {
	KeyHash  string     `json:"key_hash"`
	Key      string     `json:"key"`
	Result   string     `json:"result,omitempty"`
	Size     int64      `json:"size"`
	Codec    string     `json:"codec,omitempty"`
	OutFiles []lsOut    `json:"out_files,omitempty"`
	Created  *time.Time `json:"created,omitempty"`
	LastUsed *time.Time `json:"last_used,omitempty"`
}

type lsOut struct {
	Arg    string   `json:"arg"`
	Object string   `json:"object"`
	Size   int64    `json:"size"`
	Paths  []string `json:"paths,omitempty"`
}

func runLsCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) != 1 {
		return usagef("ls takes one function NAME")
	}
	keys := *fs.Lookup("key").Value.(*multiFlag)
	if err := validPrefixes(keys); err != nil {
		return err
	}
	list, err := ls(e.dir, args[0], keys)
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(e.stdout, list)
	}
	printLs(e.stdout, list)
	return nil
}

// validPrefixes checks -key values: 4 to 64 lowercase hex digits.
func validPrefixes(keys []string) error {
	for _, k := range keys {
		if len(k) < 4 || len(k) > 64 || !isHex(k, len(k)) {
			return usagef("-key %q: want 4 to 64 lowercase hex digits of a key hash (see pcache-fsck ls NAME)", k)
		}
	}
	return nil
}

// requireFunc fails unless name is a stored function.
func requireFunc(dir, name string) error {
	names, err := listFuncs(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == name {
			return nil
		}
	}
	return fmt.Errorf("no function named %q in %s (pcache-fsck stats lists them)", name, dir)
}

func matchesAny(h [32]byte, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	s := hex.EncodeToString(h[:])
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func ls(dir, name string, prefixes []string) ([]lsEntry, error) {
	store, err := openFuncStore(dir, name)
	if err != nil {
		return nil, err
	}
	es, err := loadFunc(dir, name)
	if err != nil {
		return nil, err
	}
	out := []lsEntry{}
	for _, e := range es {
		if !matchesAny(e.KeyHash, prefixes) {
			continue
		}
		out = append(out, describeEntry(store, e))
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Created, out[j].Created
		if a == nil || b == nil {
			return b != nil
		}
		return a.Before(*b)
	})
	return out, nil
}

// renderKey renders an entry's canonical key bytes on one line, or its full
// key hash when the key was not kept or cannot be decoded.
func renderKey(e manifest.Entry) string {
	if len(e.Key) == 0 {
		return hex.EncodeToString(e.KeyHash[:])
	}
	s, err := keying.Diagnose(e.Key)
	if err != nil {
		return hex.EncodeToString(e.KeyHash[:]) + " (undecodable key: " + err.Error() + ")"
	}
	return strings.Join(strings.Fields(s), " ")
}

func describeEntry(store *cas.Store, e manifest.Entry) lsEntry {
	le := lsEntry{
		KeyHash: hex.EncodeToString(e.KeyHash[:]),
		Key:     renderKey(e),
		Size:    e.Size,
		Codec:   e.Codec,
	}
	if !e.Result.IsZero() {
		le.Result = e.Result.String()
		if info, err := os.Stat(store.Path(e.Result)); err == nil {
			t := info.ModTime()
			le.LastUsed = &t
		}
	}
	if t := entryTime(e.Time); !t.IsZero() {
		le.Created = &t
	}
	for _, o := range e.Outs {
		lo := lsOut{Arg: o.Arg, Object: o.Object.String(), Size: o.Size}
		for _, p := range o.Paths {
			lo.Paths = append(lo.Paths, p.Path)
		}
		le.OutFiles = append(le.OutFiles, lo)
	}
	return le
}

func printLs(w io.Writer, list []lsEntry) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSIZE\tCREATED\tLAST USED\tARGUMENTS")
	for _, e := range list {
		size := humanBytes(e.Size)
		for _, o := range e.OutFiles {
			size += fmt.Sprintf(" +%s %s", o.Arg, humanBytes(o.Size))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.KeyHash[:12], size, optTime(e.Created), optTime(e.LastUsed), e.Key)
	}
	tw.Flush()
}
