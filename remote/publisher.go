package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/manifest/record"
)

// The publisher puts this process's new records on the remote in the
// background: each record goes to an outbox file first (so it survives a
// crash), then its objects are uploaded, then its function gets a segment
// and a log entry naming it. Records are gathered for linger before they
// go, so a burst of misses becomes one segment per function.
type publisher struct {
	t      *Tier
	dir    string
	writer string
	wake   chan struct{}
	quit   chan struct{}
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	queue    []item
	cur      *outboxFile // receiving appends; nil until the first record
	taken    int64       // cur's size when the backlog was last taken
	overflow bool        // records of cur's file that the queue dropped
	waiters  []chan struct{}
	stopped  bool

	// owned by run
	backlog  []item
	files    []*outboxFile // files whose records are all in backlog
	keepFile map[*outboxFile]bool
	seq      map[string]uint64 // the last log number this process knows of, per function
	cp       map[string]uint64 // the last checkpoint number it knows of
	uploaded map[cas.ID]bool   // objects known to be on the remote
}

const (
	linger       = 20 * time.Millisecond
	maxQueue     = 1 << 17 // records held in memory; more stay in the outbox file for the next Open
	compactEvery = 64      // log entries after a checkpoint that make the publisher write a new one
	maxUploaded  = 1 << 16
)

func newPublisher(t *Tier) *publisher {
	ctx, cancel := context.WithCancel(context.Background())
	return &publisher{
		t: t, dir: t.d.RemoteOutbox(t.id), writer: fsutil.Host() + "." + fmt.Sprint(os.Getpid()),
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, cancel: cancel,
		keepFile: map[*outboxFile]bool{}, seq: map[string]uint64{}, cp: map[string]uint64{}, uploaded: map[cas.ID]bool{},
	}
}

func (p *publisher) start() {
	if err := os.MkdirAll(p.dir, 0o777); err != nil {
		p.t.opts.Logger.Warn("pcache: remote outbox", "dir", p.dir, "err", err)
	}
	go p.run()
}

// enqueue records entries of function name for publishing.
func (p *publisher) enqueue(name string, entries []record.Entry, uploaded bool) {
	items := make([]item, len(entries))
	for i := range entries {
		items[i] = item{name: name, e: entries[i], uploaded: uploaded}
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	if p.cur == nil {
		cur, err := p.t.createOutbox(p.dir)
		if err != nil {
			p.t.opts.Logger.Warn("pcache: remote outbox: records will be published unless this process ends first", "err", err)
		}
		p.cur = cur
	}
	if p.cur != nil {
		if err := p.cur.append(items); err != nil {
			p.t.opts.Logger.Warn("pcache: remote outbox", "err", err)
		}
	}
	if len(p.queue) < maxQueue {
		p.queue = append(p.queue, items...)
	} else {
		p.overflow = true
	}
	p.mu.Unlock()
	p.poke()
}

func (p *publisher) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// flush waits until everything enqueued so far is published (or ctx ends).
func (p *publisher) flush(ctx context.Context) error {
	ch := make(chan struct{})
	p.mu.Lock()
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	p.poke()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.done:
		return errors.New("remote: publisher stopped")
	}
}

// close publishes what is queued, for at most timeout, and stops. Records
// it could not publish stay in outbox files for the next Open.
func (p *publisher) close(timeout time.Duration) error {
	p.t.br.probeNow()
	close(p.quit)
	t := time.NewTimer(timeout)
	defer t.Stop()
	var err error
	select {
	case <-p.done:
	case <-t.C:
		p.cancel()
		<-p.done
		err = fmt.Errorf("remote: %s: publishing did not finish within %v; the rest is published by the next Open", p.t.b, timeout)
	}
	p.cancel()
	return err
}

func (p *publisher) run() {
	defer close(p.done)
	defer p.stop()
	for !p.t.checkBackend(p.ctx) {
		tm := time.NewTimer(p.t.br.retryIn())
		select {
		case <-tm.C:
		case <-p.quit:
			tm.Stop()
			if !p.t.checkBackend(p.ctx) {
				return // unreachable: the outbox keeps everything for the next Open
			}
		}
		tm.Stop()
	}
	if p.t.ro.Load() {
		return // the remote cannot take writes safely (checkBackend said why)
	}
	files, items := p.t.claimDead(p.dir)
	p.files, p.backlog = files, items
	quitting := false
	for {
		if len(p.backlog) == 0 && !quitting && !p.hasWaiters() {
			select {
			case <-p.wake:
			case <-p.quit:
				quitting = true
			}
			if !quitting && !p.hasWaiters() {
				tm := time.NewTimer(linger)
				select {
				case <-tm.C:
				case <-p.quit:
					quitting = true
				}
				tm.Stop()
			}
		}
		p.take()
		err := p.publishBacklog()
		if err == nil {
			if p.settle() && quitting {
				return
			}
			continue
		}
		if p.ctx.Err() != nil || (quitting && errors.Is(err, errBreakerOpen)) {
			return // out of time, or the remote is down: the outbox keeps the rest
		}
		// The remote failed: try again when the breaker lets a request through.
		tm := time.NewTimer(p.t.br.retryIn())
		select {
		case <-tm.C:
		case <-p.quit:
			quitting = true
		case <-p.ctx.Done():
		}
		tm.Stop()
	}
}

func (p *publisher) hasWaiters() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters) > 0 && len(p.queue) > 0
}

// take moves the queue into the backlog; what the current outbox file holds
// up to now is then all in the backlog (unless the queue overflowed).
func (p *publisher) take() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backlog = append(p.backlog, p.queue...)
	p.queue = nil
	if p.cur != nil {
		p.taken = p.cur.size
	}
}

// maxOutbox is the size at which a busy outbox file (one never idle long
// enough to be emptied) is set aside and a new one begun.
const maxOutbox = 4 << 20

// settle, once everything taken is published, removes the outbox files
// whose records are all published, empties the current one if nothing
// came since, and wakes flushers; it reports whether nothing is left.
func (p *publisher) settle() bool {
	for _, f := range p.files {
		if p.keepFile[f] {
			f.release()
		} else {
			f.done()
		}
		delete(p.keepFile, f)
	}
	p.files = nil
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.cur; cur != nil {
		switch {
		case p.overflow:
			// Records the queue dropped are only in the file: leave it to
			// the next Open, start another.
			cur.close()
			p.files = append(p.files, cur)
			p.keepFile[cur] = true
			p.cur, p.overflow = nil, false
		case cur.size == p.taken:
			if err := cur.empty(); err != nil {
				cur.close()
				p.files = append(p.files, cur) // removed at the next settle
				p.cur = nil
			}
		case cur.size > maxOutbox:
			// Busy: its new records are queued; once they are published
			// the file goes.
			cur.close()
			p.files = append(p.files, cur)
			p.cur = nil
		}
		p.taken = 0
	}
	idle := len(p.queue) == 0
	if idle {
		for _, ch := range p.waiters {
			close(ch)
		}
		p.waiters = nil
	}
	return idle
}

// stop lets the outbox files go without removing them.
func (p *publisher) stop() {
	for _, f := range p.files {
		f.release()
	}
	p.files = nil
	p.mu.Lock()
	p.stopped = true
	if p.cur != nil {
		p.cur.release()
		p.cur = nil
	}
	p.mu.Unlock()
}

// publishBacklog publishes the backlog function by function, removing what
// went up; it stops at the first failure of the remote.
func (p *publisher) publishBacklog() error {
	for len(p.backlog) > 0 {
		name := p.backlog[0].name
		var mine, rest []item
		for _, it := range p.backlog {
			if it.name == name {
				mine = append(mine, it)
			} else {
				rest = append(rest, it)
			}
		}
		if err := p.publishFunc(name, mine); err != nil {
			return err
		}
		p.backlog = rest
	}
	return nil
}

// publishFunc publishes records of one function: objects, segment, log.
func (p *publisher) publishFunc(name string, items []item) error {
	t := p.t
	entries := make([]record.Entry, 0, len(items))
	for i := range items {
		e := &items[i].e
		if !e.Deleted && !items[i].uploaded {
			ok, err := p.uploadObjects(e)
			if err != nil {
				return err
			}
			if !ok {
				t.stats.dropped.Add(1)
				continue
			}
		}
		entries = append(entries, *e)
	}
	if len(entries) == 0 {
		return nil
	}
	segs, err := encodeSegments(name, entries)
	if err != nil {
		t.stats.dropped.Add(int64(len(entries)))
		t.opts.Logger.Warn("pcache: remote: records cannot be published", "function", name, "err", err)
		return nil
	}
	for _, sg := range segs {
		if err := p.publishSegment(name, sg.entries); err != nil {
			return err
		}
	}
	return nil
}

// publishSegment publishes entries that fit one segment as one log entry.
func (p *publisher) publishSegment(name string, entries []record.Entry) error {
	t := p.t
	from := p.seq[name]
	if fi, err := t.index(name); err == nil {
		from = max(from, fi.position())
	}
	var seq uint64
	var file string
	var data []byte
	err := t.request(p.ctx, "publish records", func(ctx context.Context) error {
		var err error
		seq, file, data, err = publish(ctx, t.b, name, entries, from, p.writer, t.opts.Now())
		return err
	})
	if err != nil {
		return err
	}
	t.stats.uploads.Add(int64(len(entries)))
	p.seq[name] = seq
	if fi, err := t.index(name); err == nil {
		fi.published(seq, file, data) // our own records need no download
	}
	if seq >= p.cp[name]+compactEvery {
		p.compact(name)
	}
	return nil
}

// uploadObjects puts e's objects on the remote, reporting false if one of
// them is gone from the local cache (the record cannot be published).
func (p *publisher) uploadObjects(e *record.Entry) (bool, error) {
	for _, o := range e.Objects() {
		id := cas.ID(o.ID)
		if p.uploaded[id] {
			continue
		}
		ok, err := p.upload(id, o.Size)
		if err != nil || !ok {
			return ok, err
		}
		if len(p.uploaded) >= maxUploaded {
			clear(p.uploaded)
		}
		p.uploaded[id] = true
	}
	return true, nil
}

// inMemoryUpload is the largest object uploaded from memory (seekable, so
// the SDK can sign its payload and retry it); larger ones are streamed.
const inMemoryUpload = 16 << 20

// headFirst is the size from which an upload asks whether the object is
// there before sending it.
const headFirst = 256 << 10

// upload puts object id on the remote unless it is there (a large one is
// asked about first; a small one is sent, and an already-exists answer
// counts as done).
func (p *publisher) upload(id cas.ID, size int64) (bool, error) {
	t := p.t
	key := objectKey(id)
	if size >= headFirst {
		var have int64
		err := t.request(p.ctx, "check an object", func(ctx context.Context) error {
			var err error
			have, _, err = t.b.Head(ctx, key)
			return err
		})
		if err == nil && have == size {
			return true, nil
		}
		if err != nil && !errors.Is(err, ErrNotExist) {
			return false, err
		}
	}
	if ok, _ := t.store.Has(id); !ok {
		return false, nil // gone here: its record cannot be published
	}
	var small []byte // an object read whole (verified) can be resent by a retry
	if size <= inMemoryUpload {
		b, err := t.store.Get(id, size)
		if errors.Is(err, cas.ErrNotFound) {
			t.store.RefreshPacks() // merged into another pack just now, perhaps
			b, err = t.store.Get(id, size)
		}
		if err != nil {
			return false, nil // gone or damaged here: its record cannot be published
		}
		small = b
	}
	err := t.requestFor(p.ctx, "upload an object", size, func(ctx context.Context) error {
		if small != nil {
			return t.b.Put(ctx, key, bytes.NewReader(small), size, true)
		}
		r, err := t.store.Open(id)
		if err != nil {
			return localError{err}
		}
		defer r.Close()
		src := &readErr{r: r}
		err = t.b.Put(ctx, key, src, size, true)
		if src.err != nil && src.err != io.EOF {
			return localError{src.err} // our copy is bad: not the remote's fault
		}
		return err
	})
	switch {
	case err == nil || errors.Is(err, ErrExists):
		return true, nil
	case errors.As(err, new(localError)):
		return false, nil
	}
	return false, err
}

// readErr remembers the error its reader returned.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// compact writes a checkpoint of function name if enough log entries
// followed the last one.
func (p *publisher) compact(name string) {
	t := p.t
	src := remoteSegments(t.b)
	if fi, err := t.index(name); err == nil {
		src = fi.segmentSource(src)
	}
	err := t.requestFor(p.ctx, "compact an index", 64<<20, func(ctx context.Context) error {
		st, err := loadState(ctx, t.b, name, loadOptions{segments: src, maxLog: maxLogWalk})
		if err != nil {
			return err
		}
		p.cp[name] = st.checkpoint
		if st.seq < st.checkpoint+compactEvery {
			return nil
		}
		if _, err := compact(ctx, t.b, st); err != nil {
			return err
		}
		p.cp[name] = st.seq
		return nil
	})
	if err != nil {
		t.opts.Logger.Debug("pcache: remote compaction failed; another writer will do it", "function", name, "err", err)
	}
}
