package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/manifest/record"
)

// The publisher puts this process's new records on the remote in the
// background: each record goes to an outbox file first (so it survives a
// crash), then its objects are uploaded, then its function gets a segment
// and a log entry naming it. Records are gathered for linger before they
// go, so a burst of misses becomes one segment per function.
//
// The backlog is published in chunks (at most maxChunk records, or what
// chunkTime of uploads got through): the objects of a chunk go up
// uploadParallel at a time, then each function of the chunk gets its
// segment and log entry. So a slow remote still gets what was uploaded
// published, and one object the server refuses for good costs its entry
// alone.
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

	// owned by run (read by close once done is closed)
	backlog  []item
	files    []*outboxFile // files whose records are all in backlog
	keepFile map[*outboxFile]bool
	seq      map[string]uint64   // the last log number this process knows of, per function
	cp       map[string]uint64   // the last checkpoint number it knows of
	heads    map[string]headSeen // the head last read, per function
	left     []item              // what was still queued when run ended
	lastErr  error               // why publishing last failed

	upMu     sync.Mutex
	uploaded map[cas.ID]stored // objects known to be on the remote, and how

	probeMu sync.Mutex
	writeOK time.Time // when a probe showed that the remote takes writes
}

// headSeen is a function's head as the publisher last read it.
type headSeen struct {
	seq uint64
	at  time.Time
}

const (
	linger       = 20 * time.Millisecond
	maxQueue     = 1 << 17 // records held in memory; more stay in the outbox file for the next Open
	compactEvery = 64      // log entries after a checkpoint that make the publisher write a new one
	maxUploaded  = 1 << 16
	// uploadParallel bounds the uploads in flight at once: enough that a
	// remote 50 ms away takes hundreds of small objects a second, few
	// enough not to swamp a server or the machine's connections.
	uploadParallel = 16
	// maxChunk and chunkTime bound a chunk of the backlog: its uploaded
	// records are published (a segment and a log entry per function)
	// before the next chunk starts, so a slow batch still publishes what
	// is done.
	maxChunk  = 512
	chunkTime = time.Second
	// headCheckEvery is how often the publisher reads a function's head
	// before it publishes: the log up to the head's checkpoint may have
	// been removed by a remote gc, and an entry written there would be
	// seen by no new reader.
	headCheckEvery = time.Minute
	// writeProbeEvery is how long a successful probe put vouches that the
	// remote takes writes, when one key is refused.
	writeProbeEvery = time.Minute
)

func newPublisher(t *Tier) *publisher {
	ctx, cancel := context.WithCancel(context.Background())
	return &publisher{
		t: t, dir: t.d.RemoteOutbox(t.id), writer: fsutil.Host() + "." + fmt.Sprint(os.Getpid()),
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, cancel: cancel,
		keepFile: map[*outboxFile]bool{}, seq: map[string]uint64{}, cp: map[string]uint64{}, heads: map[string]headSeen{},
		uploaded: map[cas.ID]stored{},
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

// UnpublishedError is the error of Close (of a Tier, and of the Store
// that has it) when records were left unpublished: they stay in this
// cache's outbox, and the next Open of the cache publishes them.
type UnpublishedError struct {
	Remote  string
	Entries int    // entries and tombstones
	Uses    int    // records of uses of entries
	Reason  string // why: out of time, or the remote's last failure
}

func (e *UnpublishedError) Error() string {
	what := fmt.Sprintf("%d entries", e.Entries)
	switch {
	case e.Entries == 0:
		what = fmt.Sprintf("%d records of uses", e.Uses)
	case e.Uses > 0:
		what += fmt.Sprintf(" (and %d records of uses)", e.Uses)
	}
	return fmt.Sprintf("remote: %s: %s still queued, not published: %s; the next Open of this cache publishes them", e.Remote, what, e.Reason)
}

// close publishes what is queued, for at most timeout, and stops. Records
// it could not publish stay in outbox files for the next Open; the error
// says how many (unless the tier turned read-only, which it said).
func (p *publisher) close(timeout time.Duration) error {
	p.t.br.probeNow()
	close(p.quit)
	t := time.NewTimer(timeout)
	defer t.Stop()
	timedOut := false
	select {
	case <-p.done:
	case <-t.C:
		timedOut = true
		p.cancel()
		<-p.done
	}
	p.cancel()
	if len(p.left) == 0 || p.t.ro.Load() {
		return nil
	}
	e := &UnpublishedError{Remote: p.t.b.String()}
	for i := range p.left {
		if p.left[i].uploaded {
			e.Uses++
		} else {
			e.Entries++
		}
	}
	switch {
	case timedOut:
		e.Reason = fmt.Sprintf("publishing did not finish within %v (PCACHE_REMOTE_FLUSH sets how long Close waits)", timeout)
	case p.lastErr != nil && !errors.Is(p.lastErr, errBreakerOpen):
		e.Reason = "the remote failed: " + p.lastErr.Error()
	case p.t.lastFailure.Load() != nil:
		e.Reason = "the remote did not answer: " + (*p.t.lastFailure.Load()).Error()
	default:
		e.Reason = "the remote did not answer"
	}
	return e
}

// errReadOnly stops publishing: the tier turned read-only.
var errReadOnly = errors.New("remote: the tier turned read-only")

func (p *publisher) run() {
	defer close(p.done)
	defer p.stop()
	if !p.ready() {
		return // unreachable, or read-only: the outbox keeps everything for the next Open
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
		p.lastErr = err
		if p.ctx.Err() != nil || p.t.ro.Load() {
			return // out of time, or the remote takes no writes: the outbox keeps the rest
		}
		if quitting && p.t.br.open() {
			return // the remote is down: the outbox keeps the rest
		}
		// The remote failed: try again when the breaker lets a request
		// through (at least minRetry later, also while quitting: never a
		// tight loop).
		var quit <-chan struct{}
		if !quitting {
			quit = p.quit
		}
		tm := time.NewTimer(p.t.br.retryIn())
		select {
		case <-tm.C:
		case <-quit:
			quitting = true
		case <-p.ctx.Done():
		}
		tm.Stop()
	}
}

// ready waits until the remote answers the tier's checks (checkBackend),
// reporting false if the publisher should stop: Close came first, or the
// remote can only be read.
func (p *publisher) ready() bool {
	for {
		if p.t.checkBackend(p.ctx) {
			return !p.t.ro.Load() // read-only: checkBackend said why
		}
		if p.ctx.Err() != nil {
			return false
		}
		tm := time.NewTimer(p.t.br.retryIn())
		select {
		case <-tm.C:
			tm.Stop()
		case <-p.quit:
			tm.Stop()
			// Close: one last try (Close let the breaker probe).
			return p.t.checkBackend(p.ctx) && !p.t.ro.Load()
		}
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

// stop lets the outbox files go without removing them, and notes what
// was left unpublished.
func (p *publisher) stop() {
	for _, f := range p.files {
		f.release()
	}
	p.files = nil
	p.mu.Lock()
	p.stopped = true
	p.left = append(p.backlog, p.queue...)
	p.backlog, p.queue = nil, nil
	if p.cur != nil {
		p.cur.release()
		p.cur = nil
	}
	p.mu.Unlock()
}

// The states of a record of a chunk.
type itemState uint8

const (
	itemPending   itemState = iota // not done yet: stays in the backlog
	itemReady                      // its objects are on the remote
	itemDropped                    // given up on (counted); leaves the backlog
	itemPublished                  // in a log entry; leaves the backlog
)

// publishBacklog publishes the backlog chunk by chunk, removing what went
// up (or was given up on); it stops at the first failure of the remote,
// after publishing what the failing chunk had uploaded.
func (p *publisher) publishBacklog() error {
	for len(p.backlog) > 0 {
		n := min(len(p.backlog), maxChunk)
		chunk := p.backlog[:n]
		state, uerr := p.uploadChunk(chunk)
		perr := p.publishReady(chunk, state)
		rest := make([]item, 0, len(p.backlog))
		for i := range chunk {
			if state[i] == itemPending || state[i] == itemReady {
				rest = append(rest, chunk[i])
			}
		}
		p.backlog = append(rest, p.backlog[n:]...)
		if perr != nil {
			return perr
		}
		if uerr != nil {
			return uerr
		}
	}
	return nil
}

// uploadChunk uploads the objects of the chunk's records, uploadParallel
// at a time, starting no new upload after chunkTime or after a failure.
// It returns each record's state and the failure.
func (p *publisher) uploadChunk(chunk []item) ([]itemState, error) {
	state := make([]itemState, len(chunk))
	var todo []int
	for i := range chunk {
		if chunk[i].e.Deleted || chunk[i].uploaded {
			state[i] = itemReady // a tombstone, or a use: no object to upload
		} else {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return state, nil
	}
	deadline := time.Now().Add(chunkTime)
	var next atomic.Int64
	var stopped atomic.Bool
	var errMu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(uploadParallel, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped.Load() {
				k := int(next.Add(1)) - 1
				if k >= len(todo) || (k > 0 && time.Now().After(deadline)) {
					return
				}
				i := todo[k]
				ok, err := p.uploadObjects(&chunk[i].e)
				if err != nil && errors.As(err, new(writeRefusal)) {
					if err = p.refused(err); err == nil {
						ok = false // refused for this object alone: drop its entry
					}
				}
				switch {
				case err != nil:
					stopped.Store(true)
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
				case !ok:
					state[i] = itemDropped
					p.t.stats.dropped.Add(1)
				default:
					state[i] = itemReady
				}
			}
		}()
	}
	wg.Wait()
	return state, first
}

// publishReady publishes the ready records of a chunk, a function at a
// time (in the order the chunk names them), marking what it published.
func (p *publisher) publishReady(chunk []item, state []itemState) error {
	var names []string
	byName := map[string][]int{}
	for i := range chunk {
		if state[i] != itemReady {
			continue
		}
		name := chunk[i].name
		if _, ok := byName[name]; !ok {
			names = append(names, name)
		}
		byName[name] = append(byName[name], i)
	}
	for _, name := range names {
		if err := p.publishFunc(name, chunk, byName[name], state); err != nil {
			return err
		}
	}
	return nil
}

// publishFunc publishes the records idx of the chunk, all of function
// name, as one log entry per segment.
func (p *publisher) publishFunc(name string, chunk []item, idx []int, state []itemState) error {
	t := p.t
	entries := make([]record.Entry, len(idx))
	for k, i := range idx {
		entries[k] = chunk[i].e
		p.inline(&entries[k])
	}
	drop := func(idx []int) {
		for _, i := range idx {
			state[i] = itemDropped
			if !chunk[i].uploaded {
				t.stats.dropped.Add(1)
			}
		}
	}
	segs, err := encodeSegments(name, entries)
	if err != nil {
		drop(idx)
		t.opts.Logger.Warn("pcache: remote: records cannot be published", "function", name, "err", err)
		return nil
	}
	for _, sg := range segs {
		part := idx[:len(sg.entries)]
		idx = idx[len(sg.entries):]
		entriesIn := 0
		for _, i := range part {
			if !chunk[i].uploaded {
				entriesIn++
			}
		}
		err := p.publishSegment(name, sg.entries, entriesIn)
		if err != nil && errors.As(err, new(writeRefusal)) {
			if err = p.refused(err); err == nil {
				drop(part) // the server refuses this segment or log entry for good
				continue
			}
		}
		if err != nil {
			return err
		}
		for _, i := range part {
			state[i] = itemPublished
		}
	}
	return nil
}

// MaxInline is the largest result a published record carries inline (its
// object is uploaded too): a remote hit on it is then served from the
// segment its mirror already holds, with no download of its own.
const MaxInline = 1 << 10

// inline puts the bytes of e's result into e when it is small and the
// local store has it (a record whose result is not at hand goes without:
// readers download the object as before).
func (p *publisher) inline(e *record.Entry) {
	if e.Deleted || e.Size <= 0 || e.Size > MaxInline || e.Inline != nil {
		return
	}
	if data, err := p.t.store.Get(cas.ID(e.Result), e.Size); err == nil {
		e.Inline = data
	}
}

// publishSegment publishes entries that fit one segment as one log entry;
// entriesIn of them are entries (the others records of uses).
func (p *publisher) publishSegment(name string, entries []record.Entry, entriesIn int) error {
	t := p.t
	from := p.seq[name]
	if fi, err := t.index(name); err == nil {
		from = max(from, fi.position())
	}
	floor, err := p.logFloor(name)
	if err != nil {
		return err
	}
	from = max(from, floor)
	var seq uint64
	var file string
	var data []byte
	err = t.request(p.ctx, "publish records", func(ctx context.Context) error {
		var err error
		seq, file, data, err = publish(ctx, t.b, name, entries, from, p.writer, t.opts.Now())
		return putError(err)
	})
	if err != nil {
		return err
	}
	t.stats.uploads.Add(int64(entriesIn))
	p.seq[name] = seq
	if fi, err := t.index(name); err == nil {
		fi.published(seq, file, data) // our own records need no download
	}
	if seq >= p.cp[name]+compactEvery {
		p.compact(name)
	}
	return nil
}

// logFloor returns the number past which function name's log may be
// written: its head (read at most every headCheckEvery). A remote gc
// removes log entries only up to a checkpoint the head names, so a writer
// whose mirror is older than that gc moves past the head instead of
// writing into the removed range, where no new reader would look. The
// head counts only if the checkpoint it names is there (a compactor wrote
// it at the log's end then, so the log reaches that far, even if the
// checkpoint is damaged since): a head that says more than the log holds
// (garbled, or written by hand) would otherwise send writers past the
// log's end, leaving a gap readers stop at.
func (p *publisher) logFloor(name string) (uint64, error) {
	if h, ok := p.heads[name]; ok && time.Since(h.at) < headCheckEvery {
		return h.seq, nil
	}
	var seq uint64
	err := p.t.request(p.ctx, "read the head", func(ctx context.Context) error {
		var err error
		if seq, err = readHead(ctx, p.t.b, name); err != nil || seq == 0 {
			return err
		}
		_, _, err = p.t.b.Head(ctx, checkpointKey(name, seq))
		if errors.Is(err, ErrNotExist) {
			seq, err = 0, nil // no such checkpoint: the head says nothing
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	p.heads[name] = headSeen{seq: seq, at: time.Now()}
	return seq, nil
}

// refused judges a put the server refused for good (err is a
// writeRefusal). An object too large for the server costs its entry alone.
// Another refusal (access denied, a 4xx) may be of that key alone or of
// every write: a probe put tells. It returns nil when what needed the key
// is to be dropped (said once per kind of refusal), and an error that
// stops publishing when the remote takes no writes (the tier may have
// turned read-only).
func (p *publisher) refused(err error) error {
	kind := refusalKind(err)
	if kind != kindTooLarge {
		if werr := p.writable(); werr != nil {
			return werr
		}
	}
	p.t.say(kind, slog.LevelWarn, fmt.Sprintf("pcache: remote %s refuses to store a file for good; the entries that need it are not published (said once; Stats().UploadsDropped counts them)", p.t.b), "err", err)
	return nil
}

// writable finds out whether the remote takes writes at all, with a probe
// put (at most every writeProbeEvery): nil if it does. If writes are
// refused and reads work, the tier turns read-only (errReadOnly).
func (p *publisher) writable() error {
	p.probeMu.Lock()
	defer p.probeMu.Unlock()
	if !p.writeOK.IsZero() && time.Since(p.writeOK) < writeProbeEvery {
		return nil
	}
	t := p.t
	key := "probe/" + fsutil.Unique()
	err := t.request(p.ctx, "probe writes", func(ctx context.Context) error {
		return putError(putBytes(ctx, t.b, key, []byte("1"), true))
	})
	if err == nil {
		t.request(p.ctx, "remove a probe", func(ctx context.Context) error { return t.b.Delete(ctx, key) })
		p.writeOK = time.Now()
		return nil
	}
	if errors.As(err, new(writeRefusal)) && t.writesRefused(p.ctx, err) {
		return errReadOnly
	}
	return err
}

// stored is how an object is on the remote.
type stored uint8

const (
	storedRaw        stored = 1 // objects/<id>
	storedCompressed stored = 2 // objects/<id>.zst
)

// uploadObjects puts e's objects on the remote, reporting false if one of
// them is gone from the local cache (the record cannot be published). An
// object this cache stores compressed goes compressed, and e then says so
// (Zstd): its record is published in a segment of format
// record.ZstdVersion.
func (p *publisher) uploadObjects(e *record.Entry) (bool, error) {
	for _, o := range e.Objects() {
		id := cas.ID(o.ID)
		p.upMu.Lock()
		how := p.uploaded[id]
		p.upMu.Unlock()
		if how == 0 {
			var ok bool
			var err error
			ok, how, err = p.upload(id, o.Size)
			if err != nil || !ok {
				return ok, err
			}
			p.upMu.Lock()
			if len(p.uploaded) >= maxUploaded {
				clear(p.uploaded)
			}
			p.uploaded[id] = how
			p.upMu.Unlock()
		}
		if how == storedCompressed {
			e.Zstd = true
		}
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
// counts as done), compressed if this cache stores it so (uploadCompressed),
// and says how the remote holds it. A copy on the remote that is damaged —
// of the wrong size, or one of an entry the remote could not serve
// (Tier.Suspect) that fails verification — is replaced.
func (p *publisher) upload(id cas.ID, size int64) (bool, stored, error) {
	if p.t.store.StoredCompressed(id) {
		ok, how, err := p.uploadCompressed(id, size)
		if ok || err != nil {
			return ok, how, err
		}
		// Gone here as a compressed file (stored raw since?): as raw.
	}
	ok, err := p.uploadRaw(id, size)
	return ok, storedRaw, err
}

// uploadRaw is upload of an object this cache stores raw (or packed).
func (p *publisher) uploadRaw(id cas.ID, size int64) (bool, error) {
	t := p.t
	key := objectKey(id)
	if size >= headFirst {
		var have int64
		err := t.request(p.ctx, "check an object", func(ctx context.Context) error {
			var err error
			have, _, err = t.b.Head(ctx, key)
			return err
		})
		if err == nil && have == size && !t.suspected(id) {
			return true, nil
		}
		if err != nil && !errors.Is(err, ErrNotExist) {
			return false, err
		}
		if err == nil {
			// There, but the wrong size or suspected: check it, replace it
			// if it is damaged.
			if ok, err := p.replaceDamaged(id, size, have); err != nil || ok {
				return ok, err
			}
		}
	}
	if !p.haveLocal(id) {
		return false, nil // gone here: its record cannot be published
	}
	err := p.put(id, size)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrExists):
		if t.suspected(id) {
			return p.replaceDamaged(id, size, -1)
		}
		return true, nil
	case errors.As(err, new(localError)):
		return false, nil
	}
	return false, err
}

// haveLocal reports whether the local store has object id, looking at
// the pack set again before it says no: a pack this process has not seen
// (merged from others' just now, by this process or another) may hold it.
func (p *publisher) haveLocal(id cas.ID) bool {
	if ok, _ := p.t.store.Has(id); ok {
		return true
	}
	p.t.store.RefreshPacks()
	ok, _ := p.t.store.Has(id)
	return ok
}

// put uploads object id (create-only) from the local store.
func (p *publisher) put(id cas.ID, size int64) error {
	t := p.t
	key := objectKey(id)
	var small []byte // an object read whole (verified) can be resent by a retry
	if size <= inMemoryUpload {
		b, err := t.store.Get(id, size)
		if errors.Is(err, cas.ErrNotFound) {
			t.store.RefreshPacks() // merged into another pack just now, perhaps
			b, err = t.store.Get(id, size)
		}
		if err != nil {
			return localError{err} // gone or damaged here: its record cannot be published
		}
		small = b
	}
	return t.requestFor(p.ctx, "upload an object", size, func(ctx context.Context) error {
		if small != nil {
			return putError(t.b.Put(ctx, key, bytes.NewReader(small), size, true))
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
		return putError(err)
	})
}

// replaceDamaged checks the remote's copy of object id (have is its size
// if known, else -1) and, if it is damaged, deletes it and uploads this
// cache's copy. It reports true when the remote has a good copy after
// all, and false with no error when the object cannot be uploaded from
// here.
func (p *publisher) replaceDamaged(id cas.ID, size, have int64) (bool, error) {
	t := p.t
	key := objectKey(id)
	damaged := have >= 0 && have != size
	if !damaged {
		err := t.requestFor(p.ctx, "verify an object", size, func(ctx context.Context) error {
			err := verifyObject(ctx, t.b, id, size)
			if errors.Is(err, errBadContent) {
				damaged, err = true, nil // the remote answered: its copy is bad
			}
			return err
		})
		if errors.Is(err, ErrNotExist) {
			damaged = true // gone meanwhile: upload it
		} else if err != nil {
			return false, err
		}
	}
	t.cleared(id)
	if !damaged {
		return true, nil
	}
	if !p.haveLocal(id) {
		return false, nil
	}
	if err := t.request(p.ctx, "remove a damaged object", func(ctx context.Context) error { return t.b.Delete(ctx, key) }); err != nil {
		return false, err
	}
	err := p.put(id, size)
	switch {
	case err == nil, errors.Is(err, ErrExists): // another writer replaced it first
		t.opts.Logger.Info("pcache: remote object was damaged; replaced with this cache's copy", "remote", t.b.String(), "key", key)
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
		if len(st.problems) > 0 {
			// A checkpoint of an index read in part would leave out what
			// the damaged files held for good (gc would then remove the
			// log they are in): left to remote check, and not tried again
			// for another compactEvery entries.
			p.cp[name] = st.seq
			t.opts.Logger.Debug("pcache: remote index damaged; not compacted", "function", name, "problem", st.problems[0].String())
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
