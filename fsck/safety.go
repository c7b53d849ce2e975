package fsck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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

// checkUnsafe reports each planted directory as an error finding.
func (c *Cache) checkUnsafe(rep *CheckReport) {
	for _, err := range c.unsafe {
		msg := err.Error()
		path, detail, _ := strings.Cut(msg, " ")
		rep.add(SevError, KindPlanted, path, strings.TrimSuffix(detail, ": "+layout.ErrNotOwnDir.Error())+
			" (pcache never makes one; nothing is followed there: check -repair removes it)")
	}
}

// removePlanted removes the planted links and files Unsafe lists (the
// entries themselves: a link is unlinked, what it points at is untouched).
func (c *Cache) removePlanted() (removed []string, err error) {
	for _, e := range c.unsafe {
		rel, _, _ := strings.Cut(e.Error(), " ")
		p := filepath.Join(c.d.Root(), filepath.FromSlash(rel))
		fi, lerr := os.Lstat(p)
		if lerr != nil {
			continue // gone already
		}
		remove := c.d.Remove
		if fi.IsDir() {
			if !c.isLockFile(p) {
				continue // one of the cache's directories, a real one by now
			}
			remove = c.d.RemoveAll // a directory planted at a lock file's name
		}
		if rerr := remove(p); rerr != nil {
			err = errors.Join(err, rerr)
			continue
		}
		removed = append(removed, rel)
	}
	if err == nil {
		c.unsafe = nil
	}
	return removed, err
}

// isLockFile reports whether p is one of the lock files (or the board)
// at a fixed name under locks/.
func (c *Cache) isLockFile(p string) bool {
	d := c.d
	for _, l := range []string{d.GCLock(), d.GCIntent(), d.Board(), d.KeyRangeLock(), d.RepackLock(), d.TrimStamp(), d.TrimLock()} {
		if p == l {
			return true
		}
	}
	return false
}
