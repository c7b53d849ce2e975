package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/manifest"
)

// repairAction is one thing check -repair did (or failed to do), printed as
// "<action> <path>: <detail>".
type repairAction struct {
	Action string `json:"action"` // rewrote, quarantined, dropped, failed
	Path   string `json:"path"`
	Detail string `json:"detail"`
}

func (a repairAction) String() string { return a.Action + " " + a.Path + ": " + a.Detail }

// repairReport sums up check -repair.
type repairReport struct {
	Actions     []repairAction `json:"actions"`
	Manifests   int            `json:"manifests_rewritten"`
	Quarantined int            `json:"quarantined"`
	Dropped     int            `json:"entries_dropped"`
	Failed      int            `json:"failed"`
}

func (r *repairReport) do(action, path, detail string) {
	r.Actions = append(r.Actions, repairAction{Action: action, Path: path, Detail: detail})
}

func (r *repairReport) fail(path string, err error) {
	r.Failed++
	r.do("failed", path, err.Error())
}

// repair fixes what check found, in the order that never loses data a
// reader could still use: rewrite manifests from their good records, move
// corrupt objects and strays aside, then drop the entries whose objects are
// gone. The caller holds the gc lock exclusively.
func repair(ctx context.Context, dir string, st *checkState) (*repairReport, error) {
	rr := &repairReport{Actions: []repairAction{}}
	for _, name := range st.damaged {
		if err := manifest.Repair(dir, name); err != nil {
			rr.fail("manifests/"+name, err)
			continue
		}
		rr.Manifests++
		rr.do("rewrote", "manifests/"+name, "kept every good record")
	}
	for _, id := range st.corrupt {
		dst, err := st.store.Quarantine(id)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, cas.ErrNotFound) {
			continue
		}
		if err != nil {
			rr.fail(objectRel(id), err)
			continue
		}
		rr.Quarantined++
		rr.do("quarantined", objectRel(id), "moved to "+relPath(dir, dst))
	}
	for _, s := range st.strays {
		dst, err := quarantineFile(dir, s.Path)
		if err != nil {
			rr.fail(relPath(dir, s.Path), err)
			continue
		}
		rr.Quarantined++
		rr.do("quarantined", relPath(dir, s.Path), "moved to "+relPath(dir, dst))
	}
	for _, p := range st.newer {
		// Not damage: a newer pcache wrote it. Leave it, but the check is
		// not clean until pcache-fsck is upgraded.
		rr.Failed++
		rr.do("kept", relPath(dir, p), "written by a newer pcache; upgrade pcache-fsck to check it")
	}
	if err := ctx.Err(); err != nil {
		return rr, err
	}

	// Re-read the (repaired) manifests and drop every entry whose objects
	// are not all present with the recorded size.
	for _, name := range st.names {
		es, err := loadFunc(dir, name)
		if err != nil {
			rr.fail("manifests/"+name, err)
			continue
		}
		var drop [][32]byte
		for _, e := range es {
			if why := brokenEntry(st.store, name, e); why != "" {
				drop = append(drop, e.KeyHash)
				rr.do("dropped", "manifests/"+name, "entry "+shortHash(e.KeyHash)+": "+why)
			}
		}
		if len(drop) == 0 {
			continue
		}
		if err := deleteEntries(dir, name, drop); err != nil {
			rr.fail("manifests/"+name, err)
			continue
		}
		rr.Dropped += len(drop)
	}
	return rr, nil
}

// brokenEntry says why an entry cannot be served ("" when it can): an
// object it needs is missing or has the wrong size.
func brokenEntry(s *cas.Store, name string, e manifest.Entry) string {
	for id, r := range objectsOf(name, e) {
		info, err := os.Stat(s.Path(id))
		if err != nil {
			return fmt.Sprintf("%s object %s missing", r.Role, objectRel(id))
		}
		if info.Size() != r.Size {
			return fmt.Sprintf("%s object %s is %d bytes, entry records %d", r.Role, objectRel(id), info.Size(), r.Size)
		}
	}
	return ""
}

// deleteEntries tombstones entries of one function.
func deleteEntries(dir, name string, hs [][32]byte) error {
	m, err := manifest.Open(dir, name, manifest.Options{})
	if err != nil {
		return err
	}
	if err := m.Delete(hs...); err != nil {
		m.Close()
		return err
	}
	return m.Close()
}

// quarantineFile moves a file or directory that does not belong in the store
// into <dir>/lost+found under a name no other file there has.
func quarantineFile(dir, path string) (string, error) {
	lf := filepath.Join(dir, "lost+found")
	if err := os.MkdirAll(lf, 0o755); err != nil {
		return "", err
	}
	base := strings.ReplaceAll(relPath(dir, path), "/", "_")
	dst := filepath.Join(lf, base+"."+fsutil.Unique())
	if err := os.Rename(path, dst); err != nil {
		return "", err
	}
	return dst, nil
}
