package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/manifest"
)

// Severities of a finding. Errors make check exit 1; hints never do.
const (
	sevError = "error"
	sevHint  = "hint"
)

// Finding kinds, in git fsck's vocabulary where it has a word. Manifest
// findings use the kind manifest.Check reports.
const (
	kindMissing      = "missing"       // an entry references an object that is not there
	kindSizeMismatch = "size-mismatch" // the object's size differs from the entry's record
	kindHashMismatch = "hash-mismatch" // the object's bytes do not hash to its name
	kindUnreadable   = "unreadable"    // a manifest or object could not be read at all
	kindStray        = "stray"         // a file in objects/ that is not an object
	kindCorrupt      = "corrupt"       // an object's name holds a link, directory or device, not a file
	kindDangling     = "dangling"      // an object no live entry references (hint: gc removes it)
	kindStaleTemp    = "stale-temp"    // a temp file older than the grace period (hint: gc removes it)
	kindQuarantined  = "quarantined"   // files kept in lost+found by an earlier repair (hint)
)

// Finding is one problem (or hint) found by check, printed as
// "<kind> <path>: <detail>".
type Finding struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Path     string `json:"path"` // relative to the cache directory when inside it
	Detail   string `json:"detail"`
}

func (f Finding) String() string { return f.Kind + " " + f.Path + ": " + f.Detail }

// checkReport is everything check found, as printed with -json.
type checkReport struct {
	Dir         string        `json:"dir"`
	Functions   int           `json:"functions"`
	Entries     int           `json:"entries"`
	Objects     int           `json:"objects"`
	ObjectBytes int64         `json:"object_bytes"`
	HashedBytes int64         `json:"hashed_bytes"`
	Seconds     float64       `json:"seconds"`
	Errors      int           `json:"errors"`
	Hints       int           `json:"hints"`
	Findings    []Finding     `json:"findings"`
	Next        []string      `json:"next,omitempty"` // commands that fix what was found
	Repair      *repairReport `json:"repair,omitempty"`
	Clean       bool          `json:"clean"` // no errors (hints allowed)

	hintLines map[string]int // hints found per kind
}

// maxHintLines caps how many findings of one hint kind are listed; the rest
// are summed up in one line (after an rm of a big function, gc's work would
// otherwise print a line per object).
const maxHintLines = 1000

func (r *checkReport) add(sev, kind, path, detail string) {
	if sev == sevError {
		r.Errors++
	} else {
		r.Hints++
		if r.hintLines == nil {
			r.hintLines = map[string]int{}
		}
		r.hintLines[kind]++
		if r.hintLines[kind] > maxHintLines {
			return
		}
	}
	r.Findings = append(r.Findings, Finding{Kind: kind, Severity: sev, Path: path, Detail: detail})
}

// summarizeHints adds one line per hint kind whose findings were capped.
func (r *checkReport) summarizeHints() {
	for _, kind := range sortedKeys(r.hintLines) {
		if n := r.hintLines[kind]; n > maxHintLines {
			r.Findings = append(r.Findings, Finding{Kind: kind, Severity: sevHint, Path: "...",
				Detail: fmt.Sprintf("%d more not listed", n-maxHintLines)})
		}
	}
}

// checkState is what repair needs from a check besides the report.
type checkState struct {
	names    []string
	damaged  []string    // functions whose manifest files have problems
	corrupt  []cas.ID    // objects whose bytes do not match their name
	strays   []looseFile // files in objects/ or a manifest directory that do not belong there
	newer    []string    // manifest files written by a newer pcache: left alone
	dangling int64       // bytes of dangling objects
	objects  map[cas.ID]objFile
	store    *cas.Store
}

type checkOptions struct {
	repair  bool
	grace   time.Duration
	workers int // hash workers; 0 = one per core
	now     time.Time
	stderr  io.Writer // for the progress bar
	verbose bool
	// afterListing, if set, runs once manifests and directories are listed,
	// before objects are hashed.
	afterListing func()
}

func init() {
	commands = append(commands, &command{
		name:    "check",
		summary: "verify every object hash, manifest record and reference (default)",
		usage: `Usage: pcache-fsck check [-repair] [-grace 1h] [-dir DIR] [-json]

Check runs in phases: manifests (headers, versions, checksums, torn tails,
canonical encoding), references (every live entry's objects exist with the
recorded size), objects (every object hashes to its name, read on all
cores). It prints one line per finding, "<kind> <path>: <detail>":

  errors: missing, size-mismatch, hash-mismatch, corrupt (not a regular
          file), unreadable, stray (a file in objects/ that is no object), and the
          manifest problems manifest.Check reports
  hints:  dangling (no entry uses the object; gc removes it), stale-temp (an
          interrupted write older than -grace; gc removes it), quarantined

then a summary and the command that fixes what was found. It exits 0 when
there are no errors (hints allowed) and 1 otherwise.

With -repair (which holds the store's gc lock exclusively) it moves corrupt
objects and stray files to DIR/lost+found, rewrites damaged manifest files
from their good records, and drops the entries whose objects are missing or
corrupt, so their next call recomputes. Nothing is silently deleted.

Examples:
  pcache-fsck                           # check the default cache
  pcache-fsck check -dir ~/.cache/pcache
  pcache-fsck check -json | jq .errors
  pcache-fsck check -repair && pcache-fsck check
  pcache-fsck check | grep '^missing '
`,
		flags: func(fs *flag.FlagSet) {
			fs.Bool("repair", false, "quarantine corrupt objects, rewrite damaged manifests, drop broken entries")
			fs.Var(&ageFlag{d: time.Hour, set: true}, "grace", "temp files younger than this are in-flight writes, not findings (e.g. 0s, 30m, 2d)")
			fs.Bool("v", false, "print phase names on stderr")
			fs.Int("workers", 0, "hash workers (default one per CPU)")
		},
		run: runCheckCmd,
	})
}

func runCheckCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	opts := checkOptions{
		repair:  fs.Lookup("repair").Value.String() == "true",
		verbose: fs.Lookup("v").Value.String() == "true",
		grace:   fs.Lookup("grace").Value.(*ageFlag).d,
		now:     time.Now(),
		stderr:  e.stderr,
	}
	opts.workers = fs.Lookup("workers").Value.(flag.Getter).Get().(int)
	if opts.workers < 0 {
		return usagef("-workers must not be negative")
	}
	rep, err := checkAndRepair(e.ctx, e.dir, opts)
	if rep != nil {
		// Print what was found and done even if repair stopped early.
		if e.json && err == nil {
			if err := writeJSON(e.stdout, rep); err != nil {
				return err
			}
		} else if !e.json {
			printCheck(e.stdout, rep)
		}
	}
	if err != nil {
		return err
	}
	if !rep.Clean {
		return errProblems
	}
	return nil
}

// checkAndRepair runs check and, if asked, repair; the returned report says
// whether the cache is clean afterwards.
func checkAndRepair(ctx context.Context, dir string, opts checkOptions) (*checkReport, error) {
	if err := requireCache(dir); err != nil {
		return nil, err
	}
	// Check lists manifests and objects under the exclusive gc lock so that
	// writers in flight do not show up as missing objects; it releases the
	// lock before the long hashing phase. Repair keeps it to the end.
	release, err := exclusiveLock(ctx, dir, "check", opts.stderr)
	if err != nil {
		if opts.repair || ctx.Err() != nil {
			return nil, fmt.Errorf("take the gc lock: %w", err)
		}
		// A read-only cache cannot be locked; check it anyway.
		fmt.Fprintf(opts.stderr, "pcache-fsck check: warning: checking without the gc lock: %v\n", err)
		release = func() {}
	}
	defer func() { release() }()
	if !opts.repair {
		unlocked := false
		opts.afterListing = func() {
			if !unlocked {
				release()
				release = func() {}
				unlocked = true
			}
		}
	}
	rep, st, err := check(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	rep.Clean = rep.Errors == 0
	if opts.repair && rep.Errors > 0 {
		rr, err := repair(ctx, dir, st)
		rep.Repair = rr
		if err != nil {
			return rep, err
		}
		rep.Clean = rr.Failed == 0
		rep.Next = []string{"pcache-fsck check -dir " + shellQuote(dir)}
	}
	return rep, nil
}

// check runs the phases and returns the findings. opts.afterListing, if set,
// runs once everything is listed and before objects are hashed.
func check(ctx context.Context, dir string, opts checkOptions) (*checkReport, *checkState, error) {
	start := time.Now()
	rep := &checkReport{Dir: dir, Findings: []Finding{}}
	st := &checkState{}
	phase := func(s string) {
		if opts.verbose {
			fmt.Fprintf(opts.stderr, "pcache-fsck: %s\n", s)
		}
	}
	store, err := openStore(dir)
	if err != nil {
		return nil, nil, err
	}

	// Phase 1: manifests.
	phase("checking manifests")
	names, err := listFuncs(dir)
	if err != nil {
		return nil, nil, err
	}
	st.names = names
	rep.Functions = len(names)
	damaged := map[string]bool{}
	for _, name := range names {
		probs, err := manifest.Check(dir, name)
		if err != nil {
			rep.add(sevError, kindUnreadable, "manifests/"+name, err.Error())
			damaged[name] = true
			continue
		}
		for _, p := range probs {
			rep.add(sevError, manifestKind(p.Kind), manifestPath(dir, name, p.Path), manifestDetail(p))
			switch p.Kind {
			case manifest.KindStray:
				st.strays = append(st.strays, looseFile{Path: p.Path})
			case manifest.KindUnknownVersion:
				st.newer = append(st.newer, p.Path)
			default:
				damaged[name] = true
			}
		}
	}
	st.damaged = sortedKeys(damaged)

	// Phase 2: references. Entries of a manifest that cannot be read at all
	// are skipped (already reported); their objects will look dangling.
	phase("checking references")
	entries := make(map[string][]manifest.Entry, len(names))
	for _, name := range names {
		es, err := loadFunc(dir, name)
		if err != nil {
			if !damaged[name] {
				rep.add(sevError, kindUnreadable, "manifests/"+name, err.Error())
				st.damaged = append(st.damaged, name)
				damaged[name] = true
			}
			continue
		}
		entries[name] = es
		rep.Entries += len(es)
	}
	refs := buildRefs(entries)
	objs, strays, err := scanObjects(store)
	if err != nil {
		return nil, nil, err
	}
	temps, err := scanFlat(dir, "tmp")
	if err != nil {
		return nil, nil, err
	}
	lost, err := scanFlat(dir, "lost+found")
	if err != nil {
		return nil, nil, err
	}
	if opts.afterListing != nil {
		opts.afterListing()
	}
	st.objects = make(map[cas.ID]objFile, len(objs))
	for _, o := range objs {
		st.objects[o.ID] = o
		rep.ObjectBytes += o.Size
	}
	rep.Objects = len(objs)
	for _, id := range sortedIDs(refs) {
		users := refs[id]
		o, ok := st.objects[id]
		if !ok {
			rep.add(sevError, kindMissing, objectRel(id), "referenced by "+describeUsers(users))
			continue
		}
		for _, u := range users {
			if u.Size != o.Size {
				rep.add(sevError, kindSizeMismatch, objectRel(id),
					fmt.Sprintf("object is %d bytes but %s records %d", o.Size, u.Name+" key "+shortHash(u.KeyHash), u.Size))
				break
			}
		}
	}

	// Phase 3: objects.
	phase(fmt.Sprintf("hashing %s in %s", plural(len(objs), "object", "objects"), humanBytes(rep.ObjectBytes)))
	bar := newCounter(opts.stderr, "hashing objects", rep.ObjectBytes, true)
	results := hashObjects(ctx, objs, opts.workers, bar)
	bar.Done()
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("check interrupted: %w", err)
	}
	buf := make([]byte, hashBufSize)
	for i, o := range objs {
		r := results[i]
		rep.HashedBytes += r.N
		if !o.Mode.IsRegular() {
			rep.add(sevError, kindCorrupt, objectRel(o.ID), "not a regular file ("+o.Mode.Type().String()+")")
			st.corrupt = append(st.corrupt, o.ID)
			continue
		}
		if errors.Is(r.Err, fs.ErrNotExist) {
			continue // deleted by gc after the listing; not a finding
		}
		if r.Err != nil {
			rep.add(sevError, kindUnreadable, objectRel(o.ID), r.Err.Error())
			st.corrupt = append(st.corrupt, o.ID)
			continue
		}
		if r.Got != o.ID {
			// Read it once more to tell a transient read fault from
			// corruption (restic does the same).
			got2, _, err2 := hashFile(o.Path, buf, noopCounter{})
			if errors.Is(err2, fs.ErrNotExist) || (err2 == nil && got2 == o.ID) {
				continue
			}
			detail := fmt.Sprintf("content hashes to %s", r.Got)
			if users := refs[o.ID]; len(users) > 0 {
				detail += "; used by " + describeUsers(users)
			}
			rep.add(sevError, kindHashMismatch, objectRel(o.ID), detail)
			st.corrupt = append(st.corrupt, o.ID)
			continue
		}
		if len(refs[o.ID]) == 0 {
			rep.add(sevHint, kindDangling, objectRel(o.ID), fmt.Sprintf("no entry uses this object (%s)", humanBytes(o.Size)))
			st.dangling += o.Size
		}
	}
	for _, s := range strays {
		what := "file"
		if s.IsDir {
			what = "directory"
		}
		rep.add(sevError, kindStray, relPath(dir, s.Path), "a "+what+" in objects/ that is not an object")
		st.strays = append(st.strays, s)
	}
	for _, t := range temps {
		age := opts.now.Sub(t.ModTime)
		if age < opts.grace {
			continue // a write in flight
		}
		rep.add(sevHint, kindStaleTemp, relPath(dir, t.Path),
			fmt.Sprintf("left by an interrupted write %s ago (%s)", roundAge(age), humanBytes(t.Size)))
	}
	if len(lost) > 0 {
		rep.add(sevHint, kindQuarantined, "lost+found",
			plural(len(lost), "file", "files")+" kept by an earlier repair; inspect them, then delete them by hand")
	}
	rep.summarizeHints()
	rep.Seconds = time.Since(start).Seconds()

	if rep.Errors > 0 {
		rep.Next = append(rep.Next, "pcache-fsck check -repair -dir "+shellQuote(dir))
	} else if st.dangling > 0 || hasKind(rep, kindStaleTemp) {
		rep.Next = append(rep.Next, "pcache-fsck gc -dir "+shellQuote(dir))
	}
	st.store = store
	return rep, st, nil
}

func hasKind(rep *checkReport, kind string) bool {
	for _, f := range rep.Findings {
		if f.Kind == kind {
			return true
		}
	}
	return false
}

// manifestKind makes a manifest problem kind one grep-able word.
func manifestKind(k string) string {
	k = strings.Join(strings.Fields(k), "-")
	if k == "" {
		return "manifest"
	}
	return k
}

func manifestPath(dir, name, p string) string {
	if p == "" {
		return "manifests/" + name
	}
	return relPath(dir, p)
}

func manifestDetail(p manifest.Problem) string {
	d := strings.Join(strings.Fields(p.Detail), " ")
	if p.Offset > 0 {
		d += fmt.Sprintf(" (at byte %d)", p.Offset)
	}
	if d == "" {
		d = p.Kind
	}
	return d
}

// describeUsers names the first entry using an object and how many others do.
func describeUsers(users []objRef) string {
	if len(users) == 0 {
		return "no entry"
	}
	s := users[0].String()
	if len(users) > 1 {
		s += fmt.Sprintf(" and %d more", len(users)-1)
	}
	return s
}

func sortedIDs[V any](m map[cas.ID]V) []cas.ID {
	ids := make([]cas.ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	return ids
}

func roundAge(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// printCheck prints findings, repair actions, the summary and what to run
// next.
func printCheck(w io.Writer, rep *checkReport) {
	for _, f := range rep.Findings {
		fmt.Fprintln(w, f.String())
	}
	if rep.Repair != nil {
		for _, a := range rep.Repair.Actions {
			fmt.Fprintln(w, a.String())
		}
	}
	rate := ""
	if rep.Seconds > 0 && rep.HashedBytes >= 64<<20 {
		rate = fmt.Sprintf(", %.2f GB/s", float64(rep.HashedBytes)/rep.Seconds/1e9)
	}
	fmt.Fprintf(w, "check: %s, %s, %s (%s) in %.2fs%s: %s, %s\n",
		plural(rep.Functions, "function", "functions"), plural(rep.Entries, "entry", "entries"),
		plural(rep.Objects, "object", "objects"), humanBytes(rep.ObjectBytes), rep.Seconds, rate,
		plural(rep.Errors, "error", "errors"), plural(rep.Hints, "hint", "hints"))
	if rr := rep.Repair; rr != nil {
		fmt.Fprintf(w, "repair: rewrote %s, quarantined %s, dropped %s, %d failed\n",
			plural(rr.Manifests, "manifest", "manifests"), plural(rr.Quarantined, "file", "files"),
			plural(rr.Dropped, "entry", "entries"), rr.Failed)
	}
	for _, n := range rep.Next {
		fmt.Fprintf(w, "next: %s\n", n)
	}
}
