package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/internal/lockfile"
	"github.com/pcache/pcache/manifest"
)

func init() {
	commands = append(commands, &command{
		name:    "gc",
		summary: "remove unreferenced objects and stale temp files; evict by age or size",
		usage: `Usage: pcache-fsck gc [-grace 1h] [-older-than AGE] [-max-size SIZE] [-dry-run] [-v] [-dir DIR] [-json]

Gc holds the store's gc lock exclusively (writers in flight finish first and
new ones wait), reads every manifest, and refuses to run if any of them cannot
be read or has problems (run check -repair first): deleting on a partial view
could lose objects a live entry needs. Then it plans, and unless -dry-run,
executes:

  1. -older-than AGE: drop entries whose last use is older than AGE. Last use
     is the mtime of the entry's result object, which hits refresh at most
     once per hour, so AGE is measured from one hour before that mtime.
  2. -max-size SIZE: drop least-recently-used entries until the objects the
     remaining entries use (each counted once) fit in SIZE.
  3. Compact every manifest.
  4. Delete objects no remaining entry uses, stale temp files in tmp/, and
     per-key and journal lock files nobody holds or will take again, all only
     when older than -grace (objects
     of entries dropped in steps 1-2 go at once).

AGE and -grace take Go durations (90m, 12h) or days (30d). SIZE takes bytes
or KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
Invalid values are refused, never replaced by a default.

Examples:
  pcache-fsck gc                        # collect garbage older than an hour
  pcache-fsck gc -dry-run -v            # show what would go
  pcache-fsck gc -older-than 30d        # forget calls unused for 30 days
  pcache-fsck gc -max-size 10GB         # keep the cache under 10 GB, LRU
  pcache-fsck gc -grace 0s              # no grace period (writers still safe: gc takes the lock)
`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(&ageFlag{d: time.Hour, set: true}, "grace", "keep unreferenced objects and temp files younger than this (e.g. 0s, 30m, 2d)")
			fs.Var(&ageFlag{}, "older-than", "drop entries not used for this long (e.g. 30d, 12h)")
			fs.Var(&sizeFlag{}, "max-size", "drop least-recently-used entries until the cache fits (e.g. 10GB, 512MiB)")
			fs.Bool("dry-run", false, "print the plan; change nothing")
			fs.Bool("v", false, "print one line per removed entry, object and file")
		},
		run: runGCCmd,
	})
}

type gcOptions struct {
	grace     time.Duration
	olderThan time.Duration // 0 with olderSet false: no age eviction
	olderSet  bool
	maxSize   int64
	maxSet    bool
	dryRun    bool
	verbose   bool
	now       time.Time
}

// gcReport is the plan and, unless DryRun, what was done.
type gcReport struct {
	Dir               string   `json:"dir"`
	DryRun            bool     `json:"dry_run"`
	EntriesEvicted    int      `json:"entries_removed"`
	EvictedOld        int      `json:"entries_older_than"`
	EvictedSize       int      `json:"entries_over_max_size"`
	ObjectsRemoved    int      `json:"objects_removed"`
	BytesRemoved      int64    `json:"bytes_removed"`
	TempRemoved       int      `json:"temp_files_removed"`
	TempBytes         int64    `json:"temp_bytes_removed"`
	LocksRemoved      int      `json:"lock_files_removed"`
	Compacted         int      `json:"manifests_compacted"`
	EntriesKept       int      `json:"entries_kept"`
	ObjectsKept       int      `json:"objects_kept"`
	BytesKept         int64    `json:"bytes_kept"`
	YoungUnreferenced int      `json:"young_unreferenced_kept"`
	YoungBytes        int64    `json:"young_unreferenced_bytes"`
	MissingRefs       int      `json:"entries_with_missing_objects"`
	Items             []string `json:"items,omitempty"` // with -v: one line per removal
	Errors            []string `json:"errors,omitempty"`
}

func runGCCmd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	grace := fs.Lookup("grace").Value.(*ageFlag)
	older := fs.Lookup("older-than").Value.(*ageFlag)
	size := fs.Lookup("max-size").Value.(*sizeFlag)
	opts := gcOptions{
		grace:     grace.d,
		olderThan: older.d, olderSet: older.set,
		maxSize: size.n, maxSet: size.set,
		dryRun:  fs.Lookup("dry-run").Value.String() == "true",
		verbose: fs.Lookup("v").Value.String() == "true",
		now:     time.Now(),
	}
	rep, err := runGC(e.ctx, e.dir, opts, e.stderr)
	if err != nil {
		return err
	}
	if e.json {
		if err := writeJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		printGC(e.stdout, rep, opts)
	}
	if len(rep.Errors) > 0 {
		return errProblems
	}
	return nil
}

// runGC plans and (unless opts.dryRun) executes a collection of dir.
func runGC(ctx context.Context, dir string, opts gcOptions, stderr io.Writer) (*gcReport, error) {
	store, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	release, err := exclusiveLock(ctx, dir, "gc", stderr)
	if err != nil {
		return nil, fmt.Errorf("take the gc lock: %w", err)
	}
	defer release()

	rep := &gcReport{Dir: dir, DryRun: opts.dryRun}
	item := func(format string, args ...any) {
		if opts.verbose {
			rep.Items = append(rep.Items, fmt.Sprintf(format, args...))
		}
	}

	// Plan. Fail closed: every manifest must be readable and sound.
	names, err := listFuncs(dir)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		probs, err := manifest.Check(dir, name)
		if err != nil {
			return nil, fmt.Errorf("refusing to collect: manifest %s cannot be read (run pcache-fsck check -repair -dir %s): %w", name, shellQuote(dir), err)
		}
		if len(probs) > 0 {
			return nil, fmt.Errorf("refusing to collect: manifest %s has %s, first %s %s: %s (run pcache-fsck check -repair -dir %s)",
				name, plural(len(probs), "problem", "problems"), probs[0].Kind, relPath(dir, probs[0].Path), probs[0].Detail, shellQuote(dir))
		}
	}
	entries, err := loadEntries(dir, names)
	if err != nil {
		return nil, fmt.Errorf("refusing to collect: %w", err)
	}
	objs, _, err := scanObjects(store)
	if err != nil {
		return nil, fmt.Errorf("refusing to collect: %w", err)
	}
	onDisk := make(map[cas.ID]objFile, len(objs))
	for _, o := range objs {
		onDisk[o.ID] = o
	}

	type live struct {
		name    string
		e       manifest.Entry
		lastUse time.Time
		objs    []cas.ID
	}
	var all []*live
	for _, name := range names {
		for _, e := range entries[name] {
			l := &live{name: name, e: e}
			for id := range objectsOf(name, e) {
				l.objs = append(l.objs, id)
			}
			if o, ok := onDisk[e.Result]; ok {
				l.lastUse = o.ModTime
			} else {
				for _, id := range l.objs {
					if o, ok := onDisk[id]; ok && o.ModTime.After(l.lastUse) {
						l.lastUse = o.ModTime
					}
				}
			}
			for _, id := range l.objs {
				if _, ok := onDisk[id]; !ok {
					rep.MissingRefs++
					break
				}
			}
			all = append(all, l)
		}
	}
	evict := map[string][][32]byte{}
	evicted := map[*live]bool{}
	evictOne := func(l *live, why string) {
		evicted[l] = true
		evict[l.name] = append(evict[l.name], l.e.KeyHash)
		item("remove entry %s %s: %s", l.name, shortHash(l.e.KeyHash), why)
	}
	if opts.olderSet {
		cutoff := opts.now.Add(-opts.olderThan - cas.TouchQuantum)
		for _, l := range all {
			if l.lastUse.Before(cutoff) {
				evictOne(l, "last used "+formatTime(l.lastUse))
				rep.EvictedOld++
			}
		}
	}
	refcount := map[cas.ID]int{}
	for _, l := range all {
		if !evicted[l] {
			for _, id := range l.objs {
				refcount[id]++
			}
		}
	}
	if opts.maxSet {
		var total int64
		for id := range refcount {
			total += onDisk[id].Size
		}
		lru := make([]*live, 0, len(all))
		for _, l := range all {
			if !evicted[l] {
				lru = append(lru, l)
			}
		}
		sort.SliceStable(lru, func(i, j int) bool {
			if !lru[i].lastUse.Equal(lru[j].lastUse) {
				return lru[i].lastUse.Before(lru[j].lastUse)
			}
			return lru[i].e.Time < lru[j].e.Time
		})
		for _, l := range lru {
			if total <= opts.maxSize {
				break
			}
			evictOne(l, fmt.Sprintf("least recently used (%s) over -max-size", formatTime(l.lastUse)))
			rep.EvictedSize++
			for _, id := range l.objs {
				refcount[id]--
				if refcount[id] == 0 {
					delete(refcount, id)
					total -= onDisk[id].Size
				}
			}
		}
	}
	rep.EntriesEvicted = len(evicted)
	rep.EntriesKept = len(all) - len(evicted)
	evictedObj := map[cas.ID]bool{}
	for l := range evicted {
		for _, id := range l.objs {
			evictedObj[id] = true
		}
	}
	var doomed []objFile
	for _, o := range objs {
		if refcount[o.ID] > 0 {
			rep.ObjectsKept++
			rep.BytesKept += o.Size
			continue
		}
		if opts.now.Sub(o.ModTime) < opts.grace && !evictedObj[o.ID] {
			rep.YoungUnreferenced++
			rep.YoungBytes += o.Size
			continue
		}
		doomed = append(doomed, o)
	}
	temps, err := scanFlat(dir, "tmp")
	if err != nil {
		return nil, err
	}
	var staleTemps []looseFile
	for _, t := range temps {
		if !t.IsDir && opts.now.Sub(t.ModTime) >= opts.grace {
			staleTemps = append(staleTemps, t)
		}
	}
	lockFiles, err := staleKeyLocks(dir, opts.now, opts.grace)
	if err != nil {
		return nil, err
	}
	journalLocks, err := staleJournalLocks(dir, opts.now, opts.grace)
	if err != nil {
		return nil, err
	}
	lockFiles = append(lockFiles, journalLocks...)

	if opts.dryRun {
		for _, o := range doomed {
			rep.ObjectsRemoved++
			rep.BytesRemoved += o.Size
			item("remove object %s: %s", objectRel(o.ID), humanBytes(o.Size))
		}
		for _, t := range staleTemps {
			rep.TempRemoved++
			rep.TempBytes += t.Size
			item("remove temp %s: %s", relPath(dir, t.Path), humanBytes(t.Size))
		}
		rep.LocksRemoved = len(lockFiles)
		rep.Compacted = len(names)
		return rep, nil
	}

	// Execute: drop references first, then what they referenced.
	for _, name := range sortedKeys(evict) {
		if err := deleteEntries(dir, name, evict[name]); err != nil {
			// Without the tombstones the objects are still needed.
			return rep, fmt.Errorf("drop entries of %s: %w", name, err)
		}
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := compact(dir, name); err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("compact manifests/%s: %v", name, err))
			continue
		}
		rep.Compacted++
	}
	bar := newCounter(stderr, "removing objects", int64(len(doomed)), false)
	for _, o := range doomed {
		if err := ctx.Err(); err != nil {
			bar.Done()
			return rep, err
		}
		bar.Add(1)
		if err := store.Delete(o.ID); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, cas.ErrNotFound) {
			rep.Errors = append(rep.Errors, fmt.Sprintf("remove %s: %v", objectRel(o.ID), err))
			continue
		}
		rep.ObjectsRemoved++
		rep.BytesRemoved += o.Size
		item("remove object %s: %s", objectRel(o.ID), humanBytes(o.Size))
	}
	bar.Done()
	for _, t := range staleTemps {
		if err := os.Remove(t.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			rep.Errors = append(rep.Errors, fmt.Sprintf("remove %s: %v", relPath(dir, t.Path), err))
			continue
		}
		rep.TempRemoved++
		rep.TempBytes += t.Size
		item("remove temp %s: %s", relPath(dir, t.Path), humanBytes(t.Size))
	}
	for _, p := range lockFiles {
		removed, err := removeIfUnlocked(p)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("remove %s: %v", relPath(dir, p), err))
			continue
		}
		if removed {
			rep.LocksRemoved++
			item("remove lock %s", relPath(dir, p))
		}
	}
	return rep, nil
}

func compact(dir, name string) error {
	m, err := manifest.Open(dir, name, manifest.Options{})
	if err != nil {
		return err
	}
	if err := m.Compact(true); err != nil {
		m.Close()
		return err
	}
	return m.Close()
}

// staleKeyLocks lists per-key lock files (<dir>/locks/keys/ab/<hex>.lock)
// whose mtime is older than grace. Only these lock files are ever removed:
// gc.lock and gc.intent are permanent.
func staleKeyLocks(dir string, now time.Time, grace time.Duration) ([]string, error) {
	root := filepath.Join(dir, "locks", "keys")
	shards, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scan key locks: %w", err)
	}
	var out []string
	for _, sh := range shards {
		if !sh.IsDir() || !isHex(sh.Name(), 2) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, sh.Name()))
		if err != nil {
			continue
		}
		for _, f := range files {
			if !f.Type().IsRegular() || filepath.Ext(f.Name()) != ".lock" {
				continue
			}
			info, err := f.Info()
			if err != nil || now.Sub(info.ModTime()) < grace {
				continue
			}
			out = append(out, filepath.Join(root, sh.Name(), f.Name()))
		}
	}
	return out, nil
}

// staleJournalLocks lists the writer lock files of journals that no longer
// exist (<dir>/locks/journals/<journal>.lock, left by writers that crashed or
// whose journals were compacted away) and are older than grace. Journal names
// are unique, so no writer will ever want such a lock again; a writer that is
// creating its journal right now holds its lock (removeIfUnlocked skips it)
// and its lock file is younger than grace.
func staleJournalLocks(dir string, now time.Time, grace time.Duration) ([]string, error) {
	root := filepath.Join(dir, "locks", "journals")
	files, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scan journal locks: %w", err)
	}
	live := map[string]bool{}
	err = filepath.WalkDir(filepath.Join(dir, "manifests"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && filepath.Ext(d.Name()) == ".pcj" {
			live[d.Name()] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan journals: %w", err)
	}
	var out []string
	for _, f := range files {
		journal, ok := strings.CutSuffix(f.Name(), ".lock")
		if !ok || !f.Type().IsRegular() || live[journal] {
			continue
		}
		info, err := f.Info()
		if err != nil || now.Sub(info.ModTime()) < grace {
			continue
		}
		out = append(out, filepath.Join(root, f.Name()))
	}
	return out, nil
}

// removeIfUnlocked removes a per-key lock file if nobody holds it. The file
// is unlinked while we hold its lock; a process that opened it just before
// locks an orphaned inode, which at worst lets two processes compute the
// same key once more (per-key locks only deduplicate work).
func removeIfUnlocked(path string) (bool, error) {
	fl, ok, err := lockfile.TryLock(path)
	if err != nil || !ok {
		return false, err
	}
	defer fl.Unlock()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}

func printGC(w io.Writer, rep *gcReport, opts gcOptions) {
	for _, it := range rep.Items {
		fmt.Fprintln(w, it)
	}
	verb, prefix, compacted := "removed", "gc", "compacted"
	if rep.DryRun {
		verb, prefix, compacted = "would remove", "gc (dry run)", "would compact"
	}
	fmt.Fprintf(w, "%s: %s %s, %s (%s), %s (%s), %s; %s %s\n", prefix, verb,
		plural(rep.EntriesEvicted, "entry", "entries"),
		plural(rep.ObjectsRemoved, "object", "objects"), humanBytes(rep.BytesRemoved),
		plural(rep.TempRemoved, "temp file", "temp files"), humanBytes(rep.TempBytes),
		plural(rep.LocksRemoved, "lock file", "lock files"),
		compacted, plural(rep.Compacted, "manifest", "manifests"))
	if rep.EntriesEvicted > 0 {
		fmt.Fprintf(w, "%s: entries: %d not used for %s, %d over -max-size %s\n", prefix,
			rep.EvictedOld, opts.olderThan, rep.EvictedSize, humanBytes(opts.maxSize))
	}
	fmt.Fprintf(w, "%s: kept %s, %s (%s)", prefix, plural(rep.EntriesKept, "entry", "entries"),
		plural(rep.ObjectsKept, "object", "objects"), humanBytes(rep.BytesKept))
	if rep.YoungUnreferenced > 0 {
		fmt.Fprintf(w, "; %s (%s) younger than -grace %s kept",
			plural(rep.YoungUnreferenced, "unreferenced object", "unreferenced objects"), humanBytes(rep.YoungBytes), opts.grace)
	}
	fmt.Fprintln(w)
	if rep.MissingRefs > 0 {
		fmt.Fprintf(w, "%s: warning: %s reference missing objects; run pcache-fsck check -repair -dir %s\n", prefix,
			plural(rep.MissingRefs, "entry", "entries"), shellQuote(rep.Dir))
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}
