// Package fsutil holds the small file-system primitives every pcache package
// shares: unique temp names, atomic whole-file writes, and directory fsync.
package fsutil

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

var host = func() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "host"
	}
	// Keep the name safe as one path element on every filesystem.
	h = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			return r
		}
		return '_'
	}, h)
	if len(h) > 32 {
		h = h[:32]
	}
	return h
}()

// Host returns this machine's host name, reduced to [A-Za-z0-9_-] and at most
// 32 bytes, for use in file names.
func Host() string { return host }

// Unique returns "<host>.<pid>.<16 random hex>", a name no other writer on any
// machine sharing the directory will pick. The random bits come from the
// system at each call (randomBytes), never from a generator seeded once: two
// copies of one restored snapshot of a machine, with the same host name and
// pid, must not name their journals and packs alike.
func Unique() string {
	var b [8]byte
	randomBytes(b[:])
	return host + "." + strconv.Itoa(os.Getpid()) + "." + hex.EncodeToString(b[:])
}

// systemRandom fills b from crypto/rand.
func systemRandom(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("fsutil: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
}

// TempSuffix ends every temp file name pcache creates, so maintenance tools
// can recognise stray ones.
const TempSuffix = ".tmp"

// CreateTemp creates a new file in dir named "<prefix><Unique()>.tmp", opened
// for writing with mode perm.
func CreateTemp(dir, prefix string, perm os.FileMode) (*os.File, error) {
	return createExcl(filepath.Join(dir, prefix+Unique()+TempSuffix), perm)
}

// Unmap runs unmap (a Map's) and returns its error; with later it runs it
// in the background instead (UnmapLater, for what a Close drops) and
// returns nil.
func Unmap(unmap func() error, later bool) error {
	if later {
		UnmapLater(unmap)
		return nil
	}
	return unmap()
}

// SyncDir fsyncs a directory so a rename inside it is durable. Errors from
// filesystems that cannot sync directories are ignored.
func SyncDir(dir string) error {
	if !canSyncDir {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !isSyncUnsupported(err) {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// WriteFileAtomic writes data to final through a temp file created in tmpDir
// (which must be on the same filesystem), then renames it into place. With
// durable, the temp file and final's directory are fsynced. On any error the
// temp file is removed and final is untouched.
func WriteFileAtomic(tmpDir, final string, data []byte, perm os.FileMode, durable bool) (err error) {
	f, err := CreateTemp(tmpDir, "", perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	return Commit(f, final, durable)
}

// Commit finishes a temp file written by the caller: optional fsync, close,
// rename to final, optional fsync of final's directory. On error the temp file
// is removed.
func Commit(f *os.File, final string, durable bool) error {
	tmp := f.Name()
	if durable {
		if err := f.Sync(); err != nil && !isSyncUnsupported(err) {
			f.Close()
			os.Remove(tmp)
			return fmt.Errorf("fsync %s: %w", tmp, err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s to %s: %w", tmp, final, err)
	}
	if durable {
		return SyncDir(filepath.Dir(final))
	}
	return nil
}

// Install renames the temp file f, written by the caller, to final and keeps
// f open, so the caller goes on writing through the descriptor it created
// (never reopening final by path: that needs write permission on the file's
// mode and follows whatever is at final by then). With durable, f is fsynced
// before and final's directory after the rename. On error f is closed and
// removed.
func Install(f *os.File, final string, durable bool) error {
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if durable {
		if err := f.Sync(); err != nil && !isSyncUnsupported(err) {
			return fail(fmt.Errorf("fsync %s: %w", tmp, err))
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(fmt.Errorf("rename %s to %s: %w", tmp, final, err))
	}
	if durable {
		if err := SyncDir(filepath.Dir(final)); err != nil {
			f.Close()
			return err
		}
	}
	return nil
}

// Kind names the type of a file that is not a regular file, for error
// messages: "directory", "symbolic link", "named pipe", "socket", "device".
func Kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	default:
		return "non-regular file (" + m.Type().String() + ")"
	}
}
