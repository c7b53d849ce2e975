package manifest

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pcache/pcache/internal/board"
	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/lock"
	"github.com/pcache/pcache/internal/manifest/record"
)

// journalWriter is a Manifest's own journal, open for appending.
type journalWriter struct {
	name, path string
	f          *os.File // O_APPEND
	lock       *lock.Held
	fi         os.FileInfo
	size       int64  // bytes written so far
	count      int    // records written so far
	rotateGen  uint64 // the RotateTopic counter when the journal was started
	genOK      bool   // rotateGen was read from a board
}

// RotateTopic is the change-board counter maintenance moves to ask every
// running writer to close its journal and start a new one on its next
// append: a journal whose writer runs is never rewritten, so a repair
// cannot drop a damaged record from it until it is closed.
var RotateTopic = board.TopicOf("manifest:rotate-journals")

// RequestRotate asks every writer of the cache whose board b is to start a
// new journal on its next append (best effort: a writer that never appends
// again closes its journal when it closes its Manifest).
func RequestRotate(b *board.Board) { b.Bump(RotateTopic) }

// createJournal starts a new journal holding the given framed records (n of
// them). It takes the journal's writer lock first, then writes the header and
// records to a temp file and renames it into dir, so no journal without a
// complete header ever exists, and no compactor can take the journal for a
// dead one.
func createJournal(d layout.Dir, dir, name string, records []byte, n int, durable bool) (_ *journalWriter, err error) {
	file := layout.JournalName(fsutil.Unique())
	lk, ok, err := lock.Try(d.JournalLock(file), lock.Exclusive)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("manifest: new journal %s: lock held by another writer", file)
	}
	defer func() {
		if err != nil { // no journal was made: its lock file is nobody's
			os.Remove(d.JournalLock(file))
			lk.Release()
		}
	}()
	hdr, err := record.EncodeHeader(record.JournalFormat, record.Version, name, nil)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{dir, d.Tmp()} {
		if err := os.MkdirAll(p, 0o777); err != nil {
			return nil, fmt.Errorf("manifest: new journal: %w", err)
		}
	}
	tmp, err := fsutil.CreateTemp(d.Tmp(), "journal-", 0o644)
	if err != nil {
		return nil, fmt.Errorf("manifest: new journal: %w", err)
	}
	if _, err := tmp.Write(append(hdr, records...)); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("manifest: new journal %s: %w", tmp.Name(), err)
	}
	path := filepath.Join(dir, file)
	// Go on appending through the descriptor that created the journal:
	// reopening it by path would follow whatever is there by then.
	if err := fsutil.Install(tmp, path, durable); err != nil {
		return nil, fmt.Errorf("manifest: new journal: %w", err)
	}
	f := tmp
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("manifest: new journal: %w", err)
	}
	return &journalWriter{name: file, path: path, f: f, lock: lk, fi: fi, size: fi.Size(), count: n}, nil
}

// append writes framed records (n of them) with one write. After a failed
// write the journal is cut back to its last complete record; the caller
// retires the writer either way.
func (w *journalWriter) append(records []byte, n int, durable bool) error {
	k, err := w.f.Write(records)
	if err != nil {
		if k > 0 {
			w.f.Truncate(w.size)
		}
		return fmt.Errorf("manifest: append to %s: %w", w.path, err)
	}
	w.size += int64(k)
	w.count += n
	if durable {
		if err := fsutil.SyncData(w.f); err != nil {
			return fmt.Errorf("manifest: fsync %s: %w", w.path, err)
		}
	}
	return nil
}

// replaced reports whether the journal's name now leads to another file
// than the one this writer appends to (or to none).
func (w *journalWriter) replaced() bool {
	fi, err := os.Lstat(w.path)
	return err == nil && !os.SameFile(fi, w.fi)
}

// records returns the framed records this writer has written, read back
// through its own descriptor.
func (w *journalWriter) records() ([]byte, error) {
	data := make([]byte, w.size)
	if _, err := w.f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("manifest: read back %s: %w", w.path, err)
	}
	_, n, err := record.ParseHeader(data, record.JournalFormat)
	if err != nil {
		return nil, fmt.Errorf("manifest: read back %s: %w", w.path, err)
	}
	return data[n:], nil
}

// close closes the journal and releases its writer lock: from then on the
// journal is dead and compactions may take it.
func (w *journalWriter) close() error {
	err := w.f.Close()
	w.lock.Release()
	if err != nil {
		return fmt.Errorf("manifest: close journal %s: %w", w.path, err)
	}
	return nil
}
