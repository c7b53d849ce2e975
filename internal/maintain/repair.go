package maintain

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// RepairAction is one thing a repair did (or failed to do), printed as
// "<action> <path>: <detail>".
type RepairAction struct {
	Action string `json:"action"` // rewrote, quarantined, dropped, failed
	Path   string `json:"path"`
	Detail string `json:"detail"`
}

func (a RepairAction) String() string { return a.Action + " " + a.Path + ": " + a.Detail }

// RepairReport sums up a repair.
type RepairReport struct {
	Actions     []RepairAction `json:"actions"`
	Manifests   int            `json:"manifests_rewritten"`
	Quarantined int            `json:"quarantined"`
	Dropped     int            `json:"entries_dropped"`
	Failed      int            `json:"failed"`
	// Live lists the damaged files repair left alone because a running
	// writer holds them (counted in Failed): "<path>: <who>".
	Live []string `json:"live,omitempty"`
}

// keptLive records a damaged file left to the running writer that holds it.
func (r *RepairReport) keptLive(path, who, what, when string) {
	r.Failed++
	r.Live = append(r.Live, path+": "+who)
	r.do("kept", path, "damaged, but in use by "+who+": "+what+" is never rewritten while its writer runs; "+
		"run check -repair again "+when)
}

func (r *RepairReport) do(action, path, detail string) {
	r.Actions = append(r.Actions, RepairAction{Action: action, Path: path, Detail: detail})
}

func (r *RepairReport) fail(path string, err error) {
	r.Failed++
	r.do("failed", path, err.Error())
}

// repair fixes what check found, in the order that never loses data a
// reader could still use: rewrite manifests from their good records, move
// corrupt objects and strays aside, then drop the entries whose objects are
// gone. The caller holds the gc lock exclusively.
func (c *Cache) repair(ctx context.Context, st *checkState) (*RepairReport, error) {
	rr := &RepairReport{Actions: []RepairAction{}}
	version := layout.MarkerVersion
	if st.zst {
		version = layout.CompressedVersion // never a marker that lets an older release near them
	}
	if c.marker != nil {
		// First: writable adds a missing marker, and what follows writes.
		if err := c.d.RepairMarker(version); err != nil {
			rr.fail(layout.MarkerFile, err)
			return rr, nil
		}
		rr.do("rewrote", layout.MarkerFile, "a sound marker in place of the damaged or missing one")
		c.marker = nil
	} else if st.raise {
		if err := c.d.UpgradeMarker(version); err != nil {
			rr.fail(layout.MarkerFile, err)
			return rr, nil
		}
		rr.do("rewrote", layout.MarkerFile, fmt.Sprintf("layout version %d: the cache holds compressed objects", version))
	}
	store, err := c.WritableObjects()
	if err != nil {
		return rr, err
	}
	c.rewriteManifests(st, rr)
	c.salvagePacks(store, st, rr)
	c.quarantineObjects(store, st, rr)
	if err := ctx.Err(); err != nil {
		return rr, err
	}

	// Re-read the (repaired) manifests and drop every entry whose objects
	// are not all present with the recorded size.
	c.dropBrokenEntries(st, rr)
	return rr, nil
}

// rewriteManifests rewrites each damaged manifest from its good records,
// keeping (and asking to rotate) the journals running writers hold.
func (c *Cache) rewriteManifests(st *checkState, rr *RepairReport) {
	for _, name := range st.damaged {
		res, err := manifest.RepairFiles(c.d, name)
		if err != nil {
			rr.fail(c.manifestPath(name, ""), err)
			continue
		}
		if res.Rewrote > 0 {
			rr.Manifests++
			rr.do("rewrote", c.manifestPath(name, ""), "kept every good record")
		}
		slices.Sort(res.Live)
		if len(res.Live) > 0 {
			// Ask the writers to close them: a closed journal is rewritten.
			manifest.RequestRotate(c.ManifestOptions().Board)
		}
		for _, j := range res.Live {
			who := liveHolder(c.d.JournalLock(filepath.Base(j)))
			if who == "" {
				who = "a running writer" // it let go since: the next repair rewrites it
			}
			rr.keptLive(c.d.Rel(j), who, "a running writer's journal",
				"after that process has written to it again (asked now, it then starts a new journal) or has closed its cache")
		}
	}
}

// salvagePacks copies the good objects of each damaged pack into a new one
// and moves it to lost+found, keeping (and asking to seal) the packs
// running writers hold.
func (c *Cache) salvagePacks(store *cas.Store, st *checkState, rr *RepairReport) {
	for _, name := range st.packs {
		dst, err := store.SalvagePack(name)
		if err != nil {
			rr.fail(c.d.Rel(c.d.Pack(name)), err)
			continue
		}
		rr.Quarantined++
		rr.do("quarantined", c.d.Rel(c.d.Pack(name)), "good objects copied to a new pack; the pack moved to "+c.d.Rel(dst))
	}
	if len(st.livePacks) > 0 {
		// Ask the writers to seal them: a sealed pack is salvaged.
		cas.RequestSeal(c.ManifestOptions().Board)
	}
	for _, name := range st.livePacks {
		who := liveHolder(c.d.PackLock(name))
		if who == "" {
			who = "a running writer"
		}
		rr.keptLive(c.d.Rel(c.d.Pack(name)), who, "a running writer's pack",
			"after that process has written again (asked now, it then seals the pack) or has closed its cache")
	}
}

// quarantineObjects moves corrupt objects and stray files to lost+found,
// and keeps (unclean) the manifest files a newer pcache wrote.
func (c *Cache) quarantineObjects(store *cas.Store, st *checkState, rr *RepairReport) {
	for _, id := range st.corrupt {
		dst, err := store.Quarantine(id)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, cas.ErrNotFound) {
			continue
		}
		if err != nil {
			rr.fail(layout.ObjectRel(id), err)
			continue
		}
		rr.Quarantined++
		rr.do("quarantined", layout.ObjectRel(id), "moved to "+c.d.Rel(dst))
	}
	for _, id := range st.badZst {
		dst, err := store.QuarantineCompressed(id)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, cas.ErrNotFound) {
			continue
		}
		if err != nil {
			rr.fail(layout.CompressedObjectRel(id), err)
			continue
		}
		rr.Quarantined++
		rr.do("quarantined", layout.CompressedObjectRel(id), "moved to "+c.d.Rel(dst))
	}
	for _, s := range st.strays {
		dst, err := c.quarantineFile(s.Path)
		if err != nil {
			rr.fail(c.d.Rel(s.Path), err)
			continue
		}
		rr.Quarantined++
		rr.do("quarantined", c.d.Rel(s.Path), "moved to "+c.d.Rel(dst))
	}
	for _, p := range st.newer {
		// Not damage: a newer pcache wrote it. Leave it, but the check is
		// not clean until pcache (and its maintenance) is upgraded.
		rr.Failed++
		rr.do("kept", c.d.Rel(p), "written by a newer pcache; upgrade pcache to check it")
	}
}

// dropBrokenEntries re-reads every manifest and drops (tombstones) each
// entry an object of which is missing or has the wrong size.
func (c *Cache) dropBrokenEntries(st *checkState, rr *RepairReport) {
	for _, name := range st.names {
		es, err := c.Entries(name)
		if err != nil {
			rr.fail(c.manifestPath(name, ""), err)
			continue
		}
		var drop [][32]byte
		for _, e := range es {
			if why := c.BrokenEntry(name, e); why != "" {
				drop = append(drop, e.KeyHash)
				rr.do("dropped", c.manifestPath(name, ""), "entry "+ShortHash(e.KeyHash)+": "+why)
			}
		}
		if len(drop) == 0 {
			continue
		}
		if err := c.deleteEntries(name, drop); err != nil {
			rr.fail(c.manifestPath(name, ""), err)
			continue
		}
		rr.Dropped += len(drop)
	}
}

// BrokenEntry says why an entry cannot be served ("" when it can): an
// object it needs is missing or has the wrong size.
func (c *Cache) BrokenEntry(name string, e record.Entry) string {
	for id, r := range ObjectsOf(name, e) {
		size, err := c.store.Size(id)
		if err != nil {
			return fmt.Sprintf("%s object %s missing", r.Role, id)
		}
		if size != r.Size {
			return fmt.Sprintf("%s object %s is %d bytes, entry records %d", r.Role, id, size, r.Size)
		}
	}
	return ""
}

// quarantineFile moves a file or directory that does not belong among the
// objects into lost+found under a name no other file there has.
func (c *Cache) quarantineFile(path string) (string, error) {
	lf := c.d.LostFound()
	if err := os.MkdirAll(lf, 0o777); err != nil {
		return "", err
	}
	base := strings.ReplaceAll(c.d.Rel(path), "/", "_")
	dst := filepath.Join(lf, base+"."+fsutil.Unique())
	if err := c.d.Rename(path, dst); err != nil { // rooted: follows no planted link
		return "", err
	}
	return dst, nil
}
