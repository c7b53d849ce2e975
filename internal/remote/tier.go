package remote

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
)

// Options configure a Tier.
type Options struct {
	// ReadOnly serves remote hits and publishes nothing.
	ReadOnly bool
	// Refresh bounds how often one function's remote index is read again
	// (one GET when nothing changed). Default 2s.
	Refresh time.Duration
	// Timeout bounds each request on a caller's path (index reads, object
	// fetches run with it per request, scaled up for large objects).
	// Default 5s.
	Timeout time.Duration
	// MaxObject is the largest object fetched from the remote: an entry
	// that names a larger one is a miss (computed here). A bucket is
	// written by whoever holds its credentials; this bounds what one
	// record can make every machine download. Default 4 GiB.
	MaxObject int64
	// FlushTimeout bounds how long Close waits for the publishing of
	// entries still queued; what is left is published at the next Open.
	// Default 10s.
	FlushTimeout time.Duration
	// Apply, if set, receives the records a function's remote index gained
	// (read from the remote, never this process's own): the local cache
	// applies the removals among them (Forget, ForgetAll, a refresh on
	// another machine), so an entry held locally is not served after the
	// remote forgot it. It runs on the goroutine that refreshed the index.
	Apply func(name string, recs []record.Entry)
	// Logger receives each kind of remote problem once (at warn, or error
	// for a missing bucket or refused credentials; repeats at debug) and
	// state changes (at info).
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Stats counts what the tier did.
type Stats struct {
	Hits           int64 // local misses served from the remote
	Inlined        int64 // results of those hits that came inline in the remote's index (no download)
	Misses         int64 // local misses the remote did not have either
	Errors         int64 // requests that failed or were refused (the calls went on without the remote)
	Uploads        int64 // entries (and tombstones) published; records of uses are not counted
	UploadsDropped int64 // entries given up on: their objects were gone locally, or the server refused them for good
	Skipped        int64 // requests not made while the breaker was open (not counted in Errors)
	Corrupt        int64 // remote objects that failed verification (not stored; computed instead)
	Missing        int64 // remote objects an entry named that the remote did not have
	TooLarge       int64 // remote entries not fetched: an object larger than Options.MaxObject
	ForeignOutbox  int64 // outbox files another user wrote, left alone (never published with this user's credentials)
}

// Tier is the shared second tier of one local cache. Its methods are safe
// for concurrent use; none of them makes a caller fail because of the
// remote: every failure is counted, logged and answered as a miss.
type Tier struct {
	b     Backend
	d     layout.Dir
	store *cas.Store
	opts  Options
	id    string // names this remote's local state
	ro    atomic.Bool

	mu  sync.Mutex
	fns map[string]*fnIndex

	br    breaker
	sayer sayer
	stats struct {
		hits, inlined, misses, errors, uploads, dropped, skipped, corrupt, missing, tooLarge, foreign atomic.Int64
	}

	pub         *publisher
	watch       *watcher
	latency     atomic.Int64 // moving average of answered requests, ns
	closing     atomic.Bool
	lastFailure atomic.Pointer[error] // the last request that failed, for Close's error
	// bg is the context of work that outlives the call that started it
	// (a refresh a caller stopped waiting for); Close ends it.
	bg       context.Context
	bgCancel context.CancelFunc

	suspectMu sync.Mutex
	suspect   map[cas.ID]bool // objects of entries the remote could not serve (Suspect)
}

// Open returns the tier of backend b for the local cache d (whose objects
// are in store). It makes no request: before it publishes anything, the
// tier writes the remote's marker if there is none and checks (the answer
// is remembered locally for a day) that the backend refuses a second
// create-only put of one key. A server that ignores such conditions could
// let two writers overwrite each other's log entries, so the tier then only
// reads (and logs why). A remote that cannot be reached makes a tier that
// serves locally until it comes back.
func Open(ctx context.Context, b Backend, d layout.Dir, store *cas.Store, opts Options) (*Tier, error) {
	if opts.Refresh <= 0 {
		opts.Refresh = 2 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxObject <= 0 {
		opts.MaxObject = defaultMaxObject
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	sum := blake3.Sum256([]byte(b.String()))
	t := &Tier{b: b, d: d, store: store, opts: opts, id: hex.EncodeToString(sum[:8]), fns: map[string]*fnIndex{}}
	t.br.init(opts.Now)
	t.ro.Store(opts.ReadOnly)
	t.watch = newWatcher(t)
	t.bg, t.bgCancel = context.WithCancel(context.Background())
	if err := os.MkdirAll(filepath.Dir(d.RemoteState(t.id)), 0o777); err != nil {
		return nil, fmt.Errorf("remote: %s: local state: %w", b, err)
	}
	if !t.ro.Load() {
		t.pub = newPublisher(t)
		t.pub.start()
	}
	return t, nil
}

// maxStateFile bounds the local state files read (state.json, a mirror's
// mirror.json): a few hundred bytes to some kilobytes.
const maxStateFile = 4 << 20

// state is what a cache remembers about a remote.
type state struct {
	ConditionalOK bool      `json:"conditional_writes"`
	Checked       time.Time `json:"checked"`
}

// checkBackend writes the marker and probes create-only puts (or reads the
// remembered answer); it reports whether it got an answer. A remote that
// refuses the writes while reads work makes the tier read-only.
func (t *Tier) checkBackend(ctx context.Context) bool {
	var st state
	if b, err := readRegular(t.d.RemoteState(t.id), maxStateFile); err == nil && json.Unmarshal(b, &st) == nil &&
		t.opts.Now().Sub(st.Checked) < 24*time.Hour && st.ConditionalOK {
		return true
	}
	put := func(key string, b []byte) error {
		return t.request(ctx, "probe create-only writes", func(ctx context.Context) error {
			return putError(putBytes(ctx, t.b, key, b, true))
		})
	}
	marker := encode(map[string]any{"format": "pcache-remote", "version": formatVersion})
	if err := put(markerKey, marker); err != nil && !errors.Is(err, ErrExists) && !errors.As(err, new(writeRefusal)) {
		return false // (a refused marker: the probe below tells whether any write is taken)
	}
	probe := "probe/" + fsutil.Unique()
	first := put(probe, []byte("1"))
	if errors.As(first, new(writeRefusal)) {
		return t.writesRefused(ctx, first)
	}
	if first != nil {
		return false
	}
	second := put(probe, []byte("2"))
	t.request(ctx, "remove a probe", func(ctx context.Context) error { return t.b.Delete(ctx, probe) })
	switch {
	case second == nil:
		t.ro.Store(true)
		t.say(kindReadOnly, slog.LevelWarn, "pcache: remote ignores create-only writes (If-None-Match: *): serving its entries, publishing none")
		st.ConditionalOK = false
	case errors.Is(second, ErrExists):
		st.ConditionalOK = true
	default:
		return false
	}
	st.Checked = t.opts.Now()
	if b, err := json.Marshal(st); err == nil {
		fsutil.WriteFileAtomic(t.d.Tmp(), t.d.RemoteState(t.id), b, 0o644, false)
	}
	return true
}

// writesRefused is told that the remote refused a write that any writer
// makes (a probe): if reads work, the credentials are read-only and the
// tier turns read-only, said once (it reports true: an answer). If reads
// fail too, the request's failure was counted and said (access denied, no
// bucket, unreachable) and it reports false.
func (t *Tier) writesRefused(ctx context.Context, err error) bool {
	rerr := t.request(ctx, "read the marker", func(ctx context.Context) error {
		_, err := getAll(ctx, t.b, markerKey, maxSmall)
		return err
	})
	if rerr != nil && !errors.Is(rerr, ErrNotExist) {
		return false
	}
	t.ro.Store(true)
	t.say(kindReadOnly, slog.LevelWarn, fmt.Sprintf("pcache: remote %s takes no writes from these credentials (reads work): serving its entries, publishing none (PCACHE_REMOTE_MODE=ro says so and spares the attempt)", t.b), "err", err)
	return true
}

// Suspect tells the tier that entry e, found in the remote index, could
// not be served from the remote (an object damaged, or missing, or the
// remote failing). When this cache publishes an entry naming one of e's
// objects (its own computation of the same result), the remote's copy is
// checked and a damaged one replaced, instead of being taken for there on
// an "exists" answer.
func (t *Tier) Suspect(e *record.Entry) {
	t.suspectMu.Lock()
	defer t.suspectMu.Unlock()
	if t.suspect == nil || len(t.suspect) >= maxSuspect {
		t.suspect = map[cas.ID]bool{}
	}
	for _, o := range e.Objects() {
		t.suspect[o.ID] = true
	}
}

// maxSuspect bounds the objects Suspect remembers.
const maxSuspect = 4096

func (t *Tier) suspected(id cas.ID) bool {
	t.suspectMu.Lock()
	defer t.suspectMu.Unlock()
	return t.suspect[id]
}

func (t *Tier) cleared(id cas.ID) {
	t.suspectMu.Lock()
	delete(t.suspect, id)
	t.suspectMu.Unlock()
}

// ReadOnly reports whether the tier publishes nothing.
func (t *Tier) ReadOnly() bool { return t.ro.Load() }

// String names the remote.
func (t *Tier) String() string { return t.b.String() }

// Stats returns the tier's counters.
func (t *Tier) Stats() Stats {
	return Stats{Hits: t.stats.hits.Load(), Inlined: t.stats.inlined.Load(), Misses: t.stats.misses.Load(), Errors: t.stats.errors.Load(),
		Uploads: t.stats.uploads.Load(), UploadsDropped: t.stats.dropped.Load(), Skipped: t.stats.skipped.Load(),
		Corrupt: t.stats.corrupt.Load(), Missing: t.stats.missing.Load(), TooLarge: t.stats.tooLarge.Load(),
		ForeignOutbox: t.stats.foreign.Load()}
}

// failed counts and logs a failed request and tells the breaker. A
// missing bucket or refused credentials hold the breaker open at once
// (nothing can work for now); anything else counts towards opening it.
// Each kind of problem is logged once until the remote answers again.
func (t *Tier) failed(what string, err error) {
	if errors.Is(err, context.Canceled) && t.closing.Load() {
		return
	}
	t.stats.errors.Add(1)
	t.lastFailure.Store(&err)
	switch {
	case errors.Is(err, ErrNoBucket):
		t.br.hold()
		t.say(kindNoBucket, slog.LevelError, fmt.Sprintf("pcache: remote %s: the bucket does not exist; not asking again for %v, calls go on locally (create it, or correct $PCACHE_REMOTE)", t.b, maxBackoff), "op", what, "err", err)
	case denied(err):
		t.br.hold()
		t.say(kindDenied, slog.LevelError, fmt.Sprintf("pcache: remote %s refuses these credentials; not asking again for %v, calls go on locally", t.b, maxBackoff), "op", what, "err", err)
	default:
		t.br.fail()
		t.say(kindUnreachable, slog.LevelWarn, fmt.Sprintf("pcache: remote %s: a request failed; calls go on locally, and after %d failures in a row the remote is left alone for a while (Stats counts every failure)", t.b, failLimit), "op", what, "err", err)
	}
}

// slow tells the breaker a request was answered, but slowly (after more
// than 3/4 of its timeout, and more than minSlow): that counts like a
// failure, without being one.
func (t *Tier) slow(what string, took time.Duration) {
	if t.br.fail() {
		t.say(kindUnreachable, slog.LevelWarn, fmt.Sprintf("pcache: remote %s answers too slowly; calls go on locally until it answers faster", t.b), "op", what, "took", took)
	}
}

// ok tells the breaker a request succeeded.
func (t *Tier) ok() {
	if t.br.succeed() {
		t.unsay(kindUnreachable, kindNoBucket, kindDenied)
		t.opts.Logger.Info("pcache: remote answers again", "remote", t.b.String())
	}
}

// request runs fn with the per-request timeout unless the breaker is open.
func (t *Tier) request(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	return t.requestFor(ctx, what, 0, fn)
}

// requestFor is request for a transfer of size bytes this process knows
// to be true (an upload of its own object): its timeout grows with the
// size (at minRate), capped at what Options.MaxObject needs. A size of -1
// sets no timeout: the caller bounds the request with a watchdog (a
// download, whose size only the remote's records declare).
//
// A failure is tried again (tries in all) unless the remote answered: a
// 404, an "exists", a missing bucket, refused credentials, or a put
// refused for good (writeRefusal: counted as an error, left to the
// publisher to judge, not held against the remote by the breaker).
func (t *Tier) requestFor(ctx context.Context, what string, size int64, fn func(ctx context.Context) error) error {
	if !t.br.allow() {
		t.stats.skipped.Add(1)
		return errBreakerOpen
	}
	var timeout time.Duration
	if size >= 0 {
		timeout = t.opts.Timeout + time.Duration(min(size, t.opts.MaxObject)/minRate)*time.Second
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	start := time.Now()
	var err error
	defer func() {
		if err == nil || errors.Is(err, ErrNotExist) || errors.Is(err, ErrExists) {
			t.observeLatency(time.Since(start))
		}
	}()
	for try := 1; try <= tries; try++ {
		err = fn(ctx)
		if err == nil || answered(err) || errors.As(err, new(localError)) || ctx.Err() != nil {
			break
		}
		// One failure may be the remote's hiccup (a 503, a reset
		// connection): the request is tried again at once.
	}
	slow := timeout > 0 && time.Since(start) > max(timeout*3/4, minSlow)
	stalled := errors.Is(context.Cause(ctx), errStalled)
	if stalled {
		err = fmt.Errorf("%w: %w", errStalled, err)
	}
	switch {
	case err == nil && slow:
		t.slow(what, time.Since(start))
	case err == nil:
		t.ok()
	case errors.Is(err, ErrNotExist) || errors.Is(err, ErrExists):
		// An answer, but no progress: it must not keep a loop whose other
		// requests fail going at full speed.
		if slow {
			t.slow(what, time.Since(start))
		} else {
			t.br.answered()
		}
	case errors.As(err, new(writeRefusal)):
		t.stats.errors.Add(1)
		t.br.answered()
	case errors.As(err, new(localError)):
		t.br.release() // the remote did nothing wrong
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) && !stalled:
		t.br.release() // the caller gave up: not the remote's fault
	default:
		t.failed(what, err)
	}
	return err
}

// observeLatency adds one answered request's duration to the moving
// average Latency reports.
func (t *Tier) observeLatency(d time.Duration) {
	for {
		old := t.latency.Load()
		avg := int64(d)
		if old != 0 {
			avg = old - old/8 + int64(d)/8
		}
		if t.latency.CompareAndSwap(old, max(avg, 1)) {
			return
		}
	}
}

// Latency returns a moving average of how long the remote takes to answer
// a request (1 ms before it has answered any).
func (t *Tier) Latency() time.Duration {
	if l := t.latency.Load(); l > 0 {
		return time.Duration(l)
	}
	return time.Millisecond
}

// minSlow is the shortest answer that counts as slow: below it, how long
// a request took says more about this machine's load than about the
// remote (a short test timeout would otherwise make a loaded machine's
// uploads of a few hundred KiB "slow").
const minSlow = time.Second

// answered reports whether err is an answer of the remote that asking
// again at once would not change (a 404, an "exists", a missing bucket,
// refused credentials, a 4xx about the request).
func answered(err error) bool {
	return errors.Is(err, ErrNotExist) || errors.Is(err, ErrExists) || errors.Is(err, ErrNoBucket) ||
		refusedForGood(err)
}

// defaultMaxObject is Options.MaxObject's default.
const defaultMaxObject = 4 << 30

// errStalled is the cause of a download the watchdog stopped.
var errStalled = errors.New("remote: transfer stalled (no progress within the request timeout, or slower than 8 MiB/s overall)")

// watchdog bounds a download by its progress, not by the size the remote
// declares (a record declaring 2^50 bytes would otherwise buy a deadline
// years away): the context ends when no byte came for idle, or when the
// transfer falls behind minRate counted from its start plus idle. So a
// stalled or trickling server is cut off, and a fast one is stopped by the
// size limit the reader enforces.
type watchdog struct {
	mu     sync.Mutex
	start  time.Time
	idle   time.Duration
	got    int64
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

func newWatchdog(ctx context.Context, idle time.Duration) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{start: time.Now(), idle: idle, cancel: cancel}
	w.timer = time.AfterFunc(idle, func() { cancel(errStalled) })
	return ctx, w
}

// progress moves the deadline for n more bytes.
func (w *watchdog) progress(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got += int64(n)
	now := time.Now()
	rate := w.start.Add(w.idle + time.Duration(float64(w.got)/minRate*float64(time.Second)))
	w.timer.Reset(min(w.idle, rate.Sub(now)))
}

// stop ends the watchdog (and its context).
func (w *watchdog) stop() {
	w.timer.Stop()
	w.cancel(context.Canceled)
}

// reader counts what r delivers as progress.
func (w *watchdog) reader(r io.Reader) io.Reader { return watched{r, w} }

type watched struct {
	r io.Reader
	w *watchdog
}

func (r watched) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.progress(n)
	}
	return n, err
}

// tries is how often a request is made before it counts as failed (a
// server that restarted leaves dead keep-alive connections behind).
const tries = 3

// minRate is the slowest transfer (bytes a second) a request's timeout
// allows for.
const minRate = 8 << 20

// localError marks a failure on this side of a request (a local object
// found damaged while it was uploaded).
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

var errBreakerOpen = errors.New("remote: not asked (the remote failed recently)")

// Close publishes what is queued, waiting at most FlushTimeout, and lets
// the mirrors go. What it could not publish stays in the outbox for the
// next Open, and its error (*UnpublishedError) says how many entries that
// is, unless the tier turned read-only (which it said).
func (t *Tier) Close() error {
	var err error
	if t.pub != nil {
		err = t.pub.close(t.opts.FlushTimeout)
	}
	t.closing.Store(true)
	t.bgCancel()
	t.watch.stop()
	t.mu.Lock()
	for _, fi := range t.fns {
		fi.close()
	}
	t.fns = map[string]*fnIndex{}
	t.mu.Unlock()
	return err
}
