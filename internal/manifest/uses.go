package manifest

import (
	"sync"
	"time"

	"github.com/pcache/pcache/internal/manifest/record"
)

// useDelay is how long a use recorded by Touch waits, at most, before it is
// written (when no Append or Close writes it first).
const useDelay = 2 * time.Second

// maxPendingUses is how many uses Touch keeps before the Touch that reaches
// it writes them: a scan of millions of old entries holds at most this many
// (about a megabyte), not every entry it hit within useDelay.
const maxPendingUses = 4096

// pendingUses are the uses Touch recorded and nothing has written yet.
type pendingUses struct {
	mu      sync.Mutex
	entries map[record.KeyHash]record.Entry
	timer   *time.Timer // writes them useDelay after the first; nil: none pending
}

// Touch records a use of e, an entry the view served just now, given as it
// is but for a later Used. The use goes out with this Manifest's next
// Append, or at FlushUses or Close, or useDelay after the first pending
// use, whichever comes first; only the Touch that makes maxPendingUses
// pending writes them itself. A hit then does not wait for a file to be
// created, and a process's uses share one write. A use lost to a crash only
// makes gc see the entry as older than it is.
func (m *Manifest) Touch(e record.Entry) {
	if m.opts.ReadOnly || m.closed.Load() {
		return
	}
	u := &m.uses
	u.mu.Lock()
	if u.entries == nil {
		u.entries = make(map[record.KeyHash]record.Entry)
	}
	u.entries[e.KeyHash] = e
	if u.timer == nil {
		u.timer = time.AfterFunc(useDelay, func() { m.FlushUses() })
	}
	full := len(u.entries) >= maxPendingUses
	u.mu.Unlock()
	if full {
		m.FlushUses() // best effort, as uses are
	}
}

// FlushUses writes the uses Touch recorded and nothing has written yet.
func (m *Manifest) FlushUses() error {
	uses := m.takeUses()
	if len(uses) == 0 {
		return nil
	}
	rotated, err := m.appendRecs(uses, nil)
	if rotated {
		m.compactAsync()
	}
	return err
}

// takeUses returns the pending uses, still current, and forgets them. A use
// of an entry the view no longer holds as it was (replaced or forgotten
// since it was served) is dropped: it records nothing anyone can use.
func (m *Manifest) takeUses() []record.Entry {
	u := &m.uses
	u.mu.Lock()
	if u.timer != nil {
		u.timer.Stop()
		u.timer = nil
	}
	pending := u.entries
	u.entries = nil
	u.mu.Unlock()
	out := make([]record.Entry, 0, len(pending))
	var now rec
	for h, e := range pending {
		if m.lookupView(&h, &now) && !now.e.Deleted && now.e.Time == e.Time && now.e.Result == e.Result {
			out = append(out, e)
		}
	}
	return out
}
