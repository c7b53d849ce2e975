package maintain

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pcache/pcache/internal/layout"
)

// EnvSafeDirectory names caches owned by another user that maintenance may
// change anyway: a list of directories separated by the OS's list separator
// (":"), or "*" for every cache (git's safe.directory).
const EnvSafeDirectory = "PCACHE_SAFE_DIRECTORY"

// ErrNotOwner is returned (wrapped) by CheckOwner for a cache directory
// owned by another user.
var ErrNotOwner = errors.New("the cache directory is owned by another user")

// ErrUnsafe is returned (wrapped) by PlanGC and Check with Repair's
// follow-up when the cache holds links or special files where its own
// directories belong (Unsafe lists them).
var ErrUnsafe = errors.New("the cache holds links or files where its own directories belong")

// Unsafe lists the cache's own directories that are links or not
// directories (layout.CheckOwnDirs): pcache never makes them, so someone
// planted them, and maintenance follows none of them. Check reports each;
// Check with Repair removes them (the link itself, never what it points
// at); gc refuses to run while any is there.
func (c *Cache) Unsafe() []error { return c.unsafe }

// CheckOwner fails, wrapping ErrNotOwner, when the cache directory belongs
// to another user (root included) and $PCACHE_SAFE_DIRECTORY does not name
// it: a command that changes a cache should not be run on someone else's by
// accident, as git refuses repositories of other owners. Commands that
// only read do not ask.
func (c *Cache) CheckOwner() error {
	owner, ok := ownerOf(c.d.Root())
	if !ok || owner == os.Geteuid() {
		return nil
	}
	for _, p := range filepath.SplitList(os.Getenv(EnvSafeDirectory)) {
		if p == "*" {
			return nil
		}
		if a, err := filepath.Abs(p); err == nil && filepath.Clean(a) == c.d.Root() {
			return nil
		}
	}
	return fmt.Errorf("%s: %w (uid %d; you are uid %d): set %s=%s to change it anyway",
		c.d.Root(), ErrNotOwner, owner, os.Geteuid(), EnvSafeDirectory, c.d.Root())
}

// checkUnsafe reports each planted entry as an error finding.
func (c *Cache) checkUnsafe(rep *CheckReport) {
	for _, err := range c.unsafe {
		if p, ok := errors.AsType[*layout.Planted](err); ok {
			rep.add(SevError, KindPlanted, p.Rel, "is "+p.What+" (pcache never makes one; nothing is followed there: a check with repair removes it)")
		}
	}
}

// removePlanted removes the planted links and files Unsafe lists (the
// entries themselves: a link is unlinked, what it points at is untouched).
func (c *Cache) removePlanted() (removed []string, err error) {
	for _, e := range c.unsafe {
		p, ok := errors.AsType[*layout.Planted](e)
		if !ok {
			continue
		}
		fi, lerr := os.Lstat(p.Path)
		if lerr != nil {
			continue // gone already
		}
		remove := c.d.Remove
		if fi.IsDir() {
			if !p.LockFile {
				continue // one of the cache's directories, a real one by now
			}
			remove = c.d.RemoveAll // a directory planted at a lock file's name
		}
		if rerr := remove(p.Path); rerr != nil {
			err = errors.Join(err, rerr)
			continue
		}
		removed = append(removed, p.Rel)
	}
	if err == nil {
		c.unsafe = nil
	}
	return removed, err
}

// unsafeRel names the first planted entry Unsafe lists ("" if none is a
// *layout.Planted).
func (c *Cache) unsafeRel() string {
	for _, e := range c.unsafe {
		if p, ok := errors.AsType[*layout.Planted](e); ok {
			return p.Rel
		}
	}
	return ""
}
