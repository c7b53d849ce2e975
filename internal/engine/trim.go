package engine

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/lock"
	"github.com/pcache/pcache/internal/maintain"
)

// trimEvery is how often the automatic trim runs, at most.
const trimEvery = 24 * time.Hour

// trimGrace spares unreferenced objects younger than this from the trim
// (a writer may be about to name them; gc's lock protects the rest).
const trimGrace = time.Hour

// startTrim starts the daily trim if limits are set and it is due: one
// process wins the trim lock and stamps the time before it starts, so the
// others skip it. The trim holds the gc lock like pcache-fsck gc: commits
// of every process wait while it runs. Close waits for it.
func (s *Engine) startTrim() {
	o := s.opts
	if s.readOnly || (o.MaxSize == 0 && o.MaxAge == 0) {
		return
	}
	now := o.Now()
	if last, ok := s.lastTrim(); ok && now.Sub(last) < trimEvery {
		return
	}
	held, ok, err := lock.Try(s.d.TrimLock(), lock.Exclusive)
	if err != nil || !ok {
		return // another process is trimming
	}
	if last, ok := s.lastTrim(); ok && now.Sub(last) < trimEvery { // trimmed while we looked
		held.Release()
		return
	}
	stamp := []byte(strconv.FormatInt(now.UnixNano(), 10) + "\n")
	if err := fsutil.WriteFileAtomic(s.d.Tmp(), s.d.TrimStamp(), stamp, 0o644, false); err != nil {
		held.Release()
		s.log.Warn("pcache: automatic trim skipped: cannot write its stamp", "err", err)
		return
	}
	s.trimDone = make(chan struct{})
	go func() {
		defer close(s.trimDone)
		defer held.Release()
		s.trim(context.Background())
	}()
}

// lastTrim reads the stamp of the last trim.
func (s *Engine) lastTrim() (time.Time, bool) {
	b, err := fsutil.ReadRegular(s.d.TrimStamp(), 64) // never a FIFO, a link, or a giant file
	if err != nil {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

func (s *Engine) trim(ctx context.Context) {
	c, err := maintain.Open(s.d.Root())
	if err != nil {
		s.log.Warn("pcache: automatic trim failed", "err", err)
		return
	}
	plan, err := c.PlanGC(ctx, maintain.GCOptions{MaxSize: s.opts.MaxSize, OlderThan: s.opts.MaxAge, Grace: trimGrace, Now: s.opts.Now(), Expired: s.Expired})
	if err != nil {
		s.log.Warn("pcache: automatic trim failed", "err", err)
		return
	}
	rep, err := plan.Execute(ctx)
	if err != nil {
		s.log.Warn("pcache: automatic trim failed", "err", err)
		return
	}
	s.log.Info("pcache: automatic trim", "dir", s.d.Root(), "evicted_entries", rep.EntriesEvicted,
		"removed_objects", rep.ObjectsRemoved, "freed_bytes", rep.BytesRemoved)
}

// waitTrim waits for a running trim: a short-lived program that opens and
// closes its Store still gets its daily trim done.
func (s *Engine) waitTrim() {
	if s.trimDone != nil {
		<-s.trimDone
	}
}
