package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/remote"
	"github.com/pcache/pcache/internal/remotetest"
	"github.com/pcache/pcache/internal/s3server"
	_ "github.com/pcache/pcache/remote/s3" // the S3 rows' s3:// remotes
)

// The remote group measures the shared remote tier (package remote) against
// a real S3-compatible server, versitygw, which the run starts on loopback
// with its data in the scratch directory, and against a file:// remote in
// the scratch directory. Without a versitygw binary the S3 rows are
// skipped; the file:// row is measured all the same.

const (
	remoteHitName    = "bench/remote/hit"
	remoteUploadName = "bench/remote/upload"
)

// remoteSkip is why the S3 rows are not measured without versitygw.
var remoteSkip = fmt.Sprintf("no versitygw binary ($%s, $PATH, $GOBIN, $GOPATH/bin; go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)", s3server.EnvBinary)

// remoteTier measures remote hits (a fresh local cache served by the
// remote) against one raw GET of an object and against local hits, and the
// upload of one big result against a raw PUT of as many bytes. The S3 rows
// run against versitygw started with --keep-alive, as S3 keeps connections
// open; one more row measures the remote hit against versitygw as it starts
// by default, closing every connection after its response.
func (b *bench) remoteTier(ctx context.Context) error {
	dir, err := b.subdir("remote")
	if err != nil {
		return err
	}
	defer removeAll(dir)

	g := &remoteGroup{b: b, ctx: ctx, dir: dir}
	g.file = &remoteHits{b: b, ctx: ctx, kind: "file", dir: dir, url: func(round int) string {
		return "file://" + filepath.Join(dir, fmt.Sprintf("file-remote-%d", round))
	}}
	defer func() {
		for _, stop := range g.stops {
			stop()
		}
	}()
	if s3server.Binary() == "" {
		g.skip = remoteSkip
		b.logf("remote: %s: S3 rows skipped", remoteSkip)
	} else {
		// The AWS variables name the servers while the group runs, as a
		// user sets them; they are put back afterwards.
		defer saveEnv("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
			"AWS_EC2_METADATA_DISABLED", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
			"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3")()
		g.startS3()
	}
	if err := g.measureHits(); err != nil {
		return err
	}
	return g.addRows()
}

// remoteGroup is one run of the remote group: the remotes measured, the
// versitygw servers started (stopped by remoteTier when it returns), and
// why the S3 rows are skipped (skip) or errors (s3err), if they are.
type remoteGroup struct {
	b           *bench
	ctx         context.Context
	dir         string
	file        *remoteHits
	s3, s3close *remoteHits
	up          *remoteUpload
	stops       []func()
	skip        string
	s3err       error // versitygw is there but could not be used: the S3 rows are errors
}

// s3Kind starts a versitygw server (with or without keep-alive) and makes
// a bucket on it: the remote of kind.
func (g *remoteGroup) s3Kind(kind string, keepAlive bool) (*remoteHits, string, error) {
	b, ctx, dir := g.b, g.ctx, g.dir
	srv, err := s3server.Launch(filepath.Join(dir, "versitygw-"+kind), keepAlive)
	if err != nil {
		return nil, "", err
	}
	g.stops = append(g.stops, srv.Stop) // kills the server's process, by its PID
	h := &remoteHits{b: b, ctx: ctx, kind: kind, dir: dir, env: srv.EnvList()}
	h.useEnv()
	bucket, err := srv.CreateBucket(ctx)
	if err != nil {
		return nil, "", err
	}
	b.logf("remote: %s (keep-alive %v) on %s, bucket %s", srv.Bin, keepAlive, srv.Endpoint(), bucket)
	h.url = func(round int) string { return fmt.Sprintf("s3://%s/hit-%d", bucket, round) }
	return h, bucket, nil
}

// startS3 starts the two versitygw servers (no keep-alive, then
// keep-alive, whose bucket the upload row uses); a failure is s3err.
func (g *remoteGroup) startS3() {
	var bucket string
	var err error
	if g.s3close, _, err = g.s3Kind("s3-close", false); err != nil {
		g.s3err = fmt.Errorf("versitygw: %w", err)
	} else if g.s3, bucket, err = g.s3Kind("s3", true); err != nil {
		g.s3err = fmt.Errorf("versitygw --keep-alive: %w", err)
	} else {
		g.up = &remoteUpload{b: g.b, ctx: g.ctx, dir: g.dir, bucket: bucket, env: g.s3.env}
	}
}

// measureHits measures the remote hits of every remote that runs, in
// interleaved rounds, and counts the requests each made.
func (g *remoteGroup) measureHits() error {
	// Remote hits: every round fills a new remote (its own prefix), so
	// every round reads the same remote state.
	kinds := []*remoteHits{g.file}
	if g.s3err == nil && g.skip == "" {
		kinds = []*remoteHits{g.s3, g.s3close, g.file}
	}
	var probes []probe
	for _, k := range kinds {
		probes = append(probes, k.rawGet, k.remoteHit, k.localHit)
	}
	best, err := interleave(g.ctx, g.b.cfg.rounds, probes...)
	if err != nil {
		for _, k := range kinds {
			k.closeStore()
		}
		return err
	}
	for i, k := range kinds {
		k.best = [3]float64{best[3*i], best[3*i+1], best[3*i+2]}
		if k.requests, err = k.countRequests(); err != nil {
			return fmt.Errorf("%s remote: counting requests: %w", k.kind, err)
		}
	}
	return nil
}

// addRows measures the upload row and adds the group's rows: the S3 ones
// (skipped without versitygw; left out, and s3err returned, when it could
// not be used) and the file:// one.
func (g *remoteGroup) addRows() error {
	b, s3, s3close, file, skip := g.b, g.s3, g.s3close, g.file, g.skip
	n := b.cfg.remoteKeys
	hitScen := func(where string) string {
		return fmt.Sprintf("remote hit: a call on a fresh local cache served by %s (mirror lookup, the result read from the index it travels in (≤ remote.MaxInline), local record), %s distinct small results", where, countName(n))
	}
	const s3Where = "S3 (versitygw --keep-alive, loopback)"
	hitRow := Row{ID: "remote-hit", Scenario: hitScen(s3Where), Unit: unitNs,
		Floor: "one GET + ReadAll of one of the remote's small objects through remote.OpenBackend", Target: &Target{"ratio", "<=", 3, "ours: one GET of the object when the mirror is current"}}
	localRow := Row{ID: "remote-hit-local", Scenario: "remote hit against a local hit of the same entries (the same Store, called again), " + s3Where, Unit: unitNs,
		Floor: "local hit of the same entries"}
	closeRow := Row{ID: "remote-hit-noka", Scenario: hitScen("S3 (versitygw as it starts by default: no keep-alive, every request connects anew)"), Unit: unitNs,
		Floor: "the same remote hit with --keep-alive"}
	upRow := Row{ID: "remote-upload-100MiB", Scenario: fmt.Sprintf("upload one %s []byte result to S3 (versitygw --keep-alive, loopback): Call (local commit) + Close (flush: object, segment, log entry)", sizeName(b.cfg.remoteBig)),
		Unit: unitMBps, Floor: fmt.Sprintf("raw backend Put of %s from a non-seekable reader (create-only) through remote.OpenBackend", sizeName(b.cfg.remoteBig)),
		Target: &Target{"ratio", ">=", 0.5, "ours"}}
	if g.s3err == nil && skip == "" {
		hitRow.Result, hitRow.FloorValue = s3.best[1], s3.best[0]
		hitRow.Note = fmt.Sprintf("local hit %s; %s; requests: %s", fmtDuration(s3.best[2]), s3.slowest(), s3.requests)
		localRow.Result, localRow.FloorValue = s3.best[1], s3.best[2]
		closeRow.Result, closeRow.FloorValue = s3close.best[1], s3.best[1]
		closeRow.Note = fmt.Sprintf("raw GET from this server %s, the remote hit %.2f× it; local hit %s; %s; requests: %s",
			fmtDuration(s3close.best[0]), s3close.best[1]/s3close.best[0], fmtDuration(s3close.best[2]), s3close.slowest(), s3close.requests)
		if err := g.up.run(&upRow); err != nil {
			return fmt.Errorf("remote upload: %w", err)
		}
	} else if skip != "" {
		hitRow.Skip, localRow.Skip, closeRow.Skip, upRow.Skip = skip, skip, skip, skip
	}
	if g.s3err == nil {
		b.add(hitRow)
		b.add(localRow)
		b.add(closeRow)
		b.add(upRow)
	}
	b.add(Row{ID: "remote-hit-file", Scenario: hitScen("a file:// remote in the scratch directory"), Unit: unitNs,
		Result: file.best[1], Floor: "os.Open + ReadAll of one of the remote's small objects through remote.OpenBackend", FloorValue: file.best[0],
		Note: fmt.Sprintf("local hit %s; %s; file operations: %s", fmtDuration(file.best[2]), file.slowest(), file.requests)})
	return g.s3err
}

// saveEnv unsets the variables keys and returns a function that puts them
// back as they were.
func saveEnv(keys ...string) (restore func()) {
	type old struct {
		v  string
		ok bool
	}
	saved := map[string]old{}
	for _, k := range keys {
		v, ok := os.LookupEnv(k)
		saved[k] = old{v, ok}
		os.Unsetenv(k)
	}
	return func() {
		for k, o := range saved {
			if o.ok {
				os.Setenv(k, o.v)
			} else {
				os.Unsetenv(k)
			}
		}
	}
}

// remoteHits is the remote-hit scenario against one kind of remote. Its
// three probes run in this order in every round: rawGet fills a new remote
// and times GETs of its objects, remoteHit opens a Store on a new local
// directory and calls every key once (each a remote hit), localHit calls
// them again on that Store (each a local hit) and closes it.
type remoteHits struct {
	b    *bench
	ctx  context.Context
	kind string
	dir  string
	url  func(round int) string
	env  []string // the AWS variables that name its server ("K=V"), set before every Open

	round int
	cur   string // this round's remote
	s     *pcache.Store
	f     *pcache.Func[benchArgs, string]
	local string // the Store's directory

	best      [3]float64    // raw GET, remote hit, local hit, ns per op
	firstCall time.Duration // the slowest first call of a round (it reads the mirror first)
	slowCall  time.Duration // the slowest of the other remote hits, over all rounds
	requests  string        // what a remote hit costs in requests, for the row's note
}

func (h *remoteHits) keys() int { return h.b.cfg.remoteKeys }

// useEnv sets the AWS variables of h's server: pcache.Remote and
// remote.OpenBackend read them when they open a backend.
func (h *remoteHits) useEnv() { setVars(h.env) }

// setVars sets the variables of kv ("K=V").
func setVars(kv []string) {
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		os.Setenv(k, v)
	}
}

// fill publishes keys() entries to a new remote: a Store on a directory of
// its own computes them and closes (Close flushes the publishing).
func (h *remoteHits) fill() error {
	h.round++
	h.cur = h.url(h.round)
	h.useEnv()
	local := filepath.Join(h.dir, fmt.Sprintf("%s-fill-%d", h.kind, h.round))
	defer removeAll(local)
	s, err := pcache.Open(local, pcache.Remote(h.cur), pcache.RemoteTimeouts(30*time.Second, 2*time.Minute))
	if err != nil {
		return err
	}
	if err := h.b.fillEntries(h.ctx, s, remoteHitName, h.keys(), distinctResult); err != nil {
		s.Close()
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	if st := s.Stats(); st.Uploads != int64(h.keys()) {
		return fmt.Errorf("%s remote: filling published %d of %d entries (%d remote errors)", h.kind, st.Uploads, h.keys(), st.RemoteErrors)
	}
	return nil
}

// rawGet fills this round's remote, then times one GET + ReadAll of each of
// its objects through a backend of its own.
func (h *remoteHits) rawGet() (float64, error) {
	if err := h.fill(); err != nil {
		return 0, err
	}
	h.useEnv()
	be, err := remote.OpenBackend(h.ctx, h.cur)
	if err != nil {
		return 0, err
	}
	var objs []string
	err = be.List(h.ctx, "objects/", func(key string, _ int64, _ time.Time) error {
		objs = append(objs, key)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(objs) != h.keys() {
		return 0, fmt.Errorf("%s remote: %d objects after filling %d entries", h.kind, len(objs), h.keys())
	}
	ns, err := timed(func() error {
		for _, key := range objs {
			r, err := be.Get(h.ctx, key)
			if err != nil {
				return err
			}
			_, err = io.ReadAll(r)
			r.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	return ns / float64(len(objs)), err
}

// open opens this round's measuring Store on a new local directory.
func (h *remoteHits) open(opts ...pcache.StoreOption) error {
	h.local = filepath.Join(h.dir, fmt.Sprintf("%s-local-%d", h.kind, h.round))
	h.useEnv()
	s, err := pcache.Open(h.local, append([]pcache.StoreOption{pcache.Remote(h.cur)}, opts...)...)
	if err != nil {
		return err
	}
	f, err := pcache.Wrap(s, remoteHitName, distinctResult)
	if err != nil {
		s.Close()
		return err
	}
	h.s, h.f = s, f
	return nil
}

// callAll calls every key once, checking each result.
func (h *remoteHits) callAll(ctx context.Context) error { return h.callAllTimed(ctx, nil) }

// callAllTimed is callAll, passing each call's duration to each if not nil.
func (h *remoteHits) callAllTimed(ctx context.Context, each func(i int, d time.Duration)) error {
	for i := range h.keys() {
		a := smallArgs(i)
		t0 := time.Now()
		got, err := h.f.Call(ctx, a)
		if each != nil {
			each(i, time.Since(t0))
		}
		if want, _ := distinctResult(ctx, a); err != nil || got != want {
			return fmt.Errorf("%s remote: key %d: %q, %v (want %q)", h.kind, i, got, err, want)
		}
	}
	return nil
}

// remoteHit times the first call of every key on a fresh local cache: each
// must be a remote hit.
func (h *remoteHits) remoteHit() (float64, error) {
	if err := h.open(); err != nil {
		return 0, err
	}
	ns, err := timed(func() error {
		return h.callAllTimed(h.ctx, func(i int, d time.Duration) {
			if i == 0 {
				h.firstCall = max(h.firstCall, d)
			} else {
				h.slowCall = max(h.slowCall, d)
			}
		})
	})
	if err != nil {
		h.closeStore()
		return 0, err
	}
	n := int64(h.keys())
	if st := h.f.Stats(); st.RemoteHits != n || st.Computes != 0 || st.Hits != n {
		h.closeStore()
		return 0, fmt.Errorf("%s remote: %d calls on a fresh cache: %d remote hits, %d computes (want every call a remote hit)", h.kind, n, st.RemoteHits, st.Computes)
	}
	// Let what the remote hits queued for the remote (use records of
	// entries not used there within a day) go up before the local hits are
	// timed, so that those run alone.
	if err := h.waitPublished(); err != nil {
		h.closeStore()
		return 0, err
	}
	return ns / float64(n), nil
}

// slowest describes the slowest calls of the remote-hit rounds.
func (h *remoteHits) slowest() string {
	return fmt.Sprintf("slowest call over %d rounds: the first of a round (the mirror's first read) %s, any other %s",
		h.b.cfg.rounds, fmtDuration(float64(h.firstCall)), fmtDuration(float64(h.slowCall)))
}

// waitPublished waits (at most a minute) until the Store has published
// everything it queued.
func (h *remoteHits) waitPublished() error {
	ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
	defer cancel()
	if err := h.s.Flush(ctx); err != nil {
		st := h.s.Stats()
		return fmt.Errorf("%s remote: publishing not done after a minute (%d remote errors): %w", h.kind, st.RemoteErrors, err)
	}
	return nil
}

// localHit times the second call of every key on the same Store: each a
// local hit. It closes the Store.
func (h *remoteHits) localHit() (float64, error) {
	defer h.closeStore()
	before := h.f.Stats()
	ns, err := timed(func() error { return h.callAll(h.ctx) })
	if err != nil {
		return 0, err
	}
	n := int64(h.keys())
	if st := h.f.Stats(); st.Hits-before.Hits != n || st.RemoteHits != before.RemoteHits || st.Computes != 0 {
		return 0, fmt.Errorf("%s remote: second calls: %d hits of %d, %d more remote hits, %d computes", h.kind, st.Hits-before.Hits, n, st.RemoteHits-before.RemoteHits, st.Computes)
	}
	return ns / float64(n), nil
}

func (h *remoteHits) closeStore() {
	if h.s != nil {
		h.s.Close()
		removeAll(h.local)
		h.s, h.f = nil, nil
	}
}

// countRequests repeats a round (untimed) with the measuring Store's
// backend wrapped to count requests, from Open to Close, and describes
// them per remote hit: those made on the calls' path (their context is the
// calls') apart from the background's (the publisher's).
func (h *remoteHits) countRequests() (string, error) {
	if err := h.fill(); err != nil {
		return "", err
	}
	h.useEnv()
	be, err := remote.OpenBackend(h.ctx, h.cur)
	if err != nil {
		return "", err
	}
	// Request counts by kind, on the calls' path [0] and in the background [1].
	const (
		getObject = iota
		getIndex
		put
		head
		del
		list
		kinds
	)
	var counts [2][kinds]atomic.Int64
	fb := remotetest.NewFaulty(be)
	tb := &taggedBackend{Backend: fb}
	tb.onRequest = func(onCall bool, op, key string) {
		k := list
		switch {
		case op == "get" && strings.HasPrefix(key, "objects/"):
			k = getObject
		case op == "get":
			k = getIndex
		case op == "put":
			k = put
		case op == "head":
			k = head
		case op == "delete":
			k = del
		}
		i := 1
		if onCall {
			i = 0
		}
		counts[i][k].Add(1)
	}
	if err := h.open(pcache.RemoteBackend(tb)); err != nil {
		return "", err
	}
	err = h.callAll(context.WithValue(h.ctx, onCallKey{}, true))
	n := int64(h.keys())
	if err == nil {
		if st := h.f.Stats(); st.RemoteHits != n || st.Computes != 0 {
			err = fmt.Errorf("%d remote hits, %d computes of %d calls", st.RemoteHits, st.Computes, n)
		}
	}
	if err == nil {
		err = h.waitPublished()
	}
	h.closeStore()
	if err != nil {
		return "", err
	}
	var sum int64
	for i := range counts {
		for k := range counts[i] {
			sum += counts[i][k].Load()
		}
	}
	if total := int64(fb.Total()); total != sum {
		return "", fmt.Errorf("request counts disagree: %d in all, %v", total, fb.Requests())
	}
	per := func(v int64) string { return fmt.Sprintf("%.3f (%d)", float64(v)/float64(n), v) }
	desc := func(i int, what []string) string {
		var parts []string
		for k, name := range what {
			if v := counts[i][k].Load(); v > 0 || i == 0 && k <= getIndex {
				parts = append(parts, name+" "+per(v))
			}
		}
		return strings.Join(parts, ", ")
	}
	names := []string{"GET of the object", "GET of the index", "PUT", "HEAD", "DELETE", "LIST"}
	return fmt.Sprintf("per remote hit of %d, Store Open to Close: on the calls' path %s (the index: the mirror's first read and its refreshes); "+
		"in the background %s (the create-only probe at the first publish; use records (at most one a day per entry), a segment and a log entry a batch; the compaction of the log every 64 entries, which reads it back)",
		n, desc(0, names), desc(1, names)), nil
}

// onCallKey tags the context of the calls whose requests countRequests
// counts as made on their path.
type onCallKey struct{}

// taggedBackend reports every request and whether its context is a call's.
type taggedBackend struct {
	remote.Backend
	onRequest func(onCall bool, op, key string)
}

func (t *taggedBackend) on(ctx context.Context, op, key string) {
	t.onRequest(ctx.Value(onCallKey{}) != nil, op, key)
}

func (t *taggedBackend) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	t.on(ctx, "get", key)
	return t.Backend.Get(ctx, key)
}

func (t *taggedBackend) Put(ctx context.Context, key string, r io.Reader, size int64, createOnly bool) error {
	t.on(ctx, "put", key)
	return t.Backend.Put(ctx, key, r, size, createOnly)
}

func (t *taggedBackend) Head(ctx context.Context, key string) (int64, time.Time, error) {
	t.on(ctx, "head", key)
	return t.Backend.Head(ctx, key)
}

func (t *taggedBackend) List(ctx context.Context, prefix string, fn func(string, int64, time.Time) error) error {
	t.on(ctx, "list", prefix)
	return t.Backend.List(ctx, prefix, fn)
}

func (t *taggedBackend) Delete(ctx context.Context, key string) error {
	t.on(ctx, "delete", key)
	return t.Backend.Delete(ctx, key)
}

// remoteUpload is the upload scenario: one big result published through a
// Store, against a raw PUT of as many bytes through the same backend.
type remoteUpload struct {
	b      *bench
	ctx    context.Context
	dir    string
	bucket string
	env    []string // the AWS variables of its server

	round int
	data  []byte    // the result, new bytes every round
	call  []float64 // per round: ns of the Call (local commit) and of the Close (flush)
	close []float64
}

// nonSeeker hides a reader's Seek, as the tier's upload of an object read
// from the local cache does (an unsigned-payload PUT).
type nonSeeker struct{ r io.Reader }

func (n nonSeeker) Read(p []byte) (int, error) { return n.r.Read(p) }

func (u *remoteUpload) size() int { return u.b.cfg.remoteBig }

// fill returns the round's result: size() pseudo-random bytes from seed,
// in the same buffer every time (a new buffer would cost this VM's first
// touch of its pages in every round).
func (u *remoteUpload) fill(seed int) []byte {
	if u.data == nil {
		u.data = make([]byte, u.size())
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], uint64(seed))
	rand.NewChaCha8(key).Read(u.data)
	return u.data
}

// floor times one create-only Put of size() new bytes from a non-seekable
// reader.
func (u *remoteUpload) floor(be remote.Backend) probe {
	return func() (float64, error) {
		u.round++
		data := u.fill(1000 + u.round)
		key := fmt.Sprintf("floor/%d", u.round)
		ns, err := timed(func() error {
			return be.Put(u.ctx, key, nonSeeker{bytes.NewReader(data)}, int64(len(data)), true)
		})
		if err != nil {
			return 0, err
		}
		u.b.logf("remote upload round %d: raw put %s", u.round, fmtDuration(ns))
		if size, _, err := be.Head(u.ctx, key); err != nil || size != int64(len(data)) {
			return 0, fmt.Errorf("raw put: %s is %d bytes, %v", key, size, err)
		}
		return ns, be.Delete(u.ctx, key) // keep the server's disk use bounded
	}
}

// publish times Call + Close of a Store on a new local directory and a new
// remote prefix, whose function returns size() new bytes, and checks that
// the entry and its object are on the remote.
func (u *remoteUpload) publish() (float64, error) {
	data := u.fill(2000 + u.round)
	url := fmt.Sprintf("s3://%s/upload-%d", u.bucket, u.round)
	setVars(u.env)
	local := filepath.Join(u.dir, fmt.Sprintf("upload-local-%d", u.round))
	defer removeAll(local)
	s, err := pcache.Open(local, pcache.Remote(url), pcache.RemoteTimeouts(30*time.Second, 2*time.Minute))
	if err != nil {
		return 0, err
	}
	f, err := pcache.Wrap(s, remoteUploadName, func(context.Context, int) ([]byte, error) { return data, nil })
	if err != nil {
		s.Close()
		return 0, err
	}
	t0 := time.Now()
	_, err = f.Call(u.ctx, u.round)
	t1 := time.Now()
	if err != nil {
		s.Close()
		return 0, err
	}
	if err := s.Close(); err != nil {
		return 0, err
	}
	t2 := time.Now()
	if st := s.Stats(); st.Uploads != 1 || st.Computes != 1 {
		return 0, fmt.Errorf("upload: %d entries published, %d computes (want 1, 1; %d remote errors)", st.Uploads, st.Computes, st.RemoteErrors)
	}
	be, err := remote.OpenBackend(u.ctx, url)
	if err != nil {
		return 0, err
	}
	id := cas.Sum(data)
	key := "objects/" + hex.EncodeToString(id[:])
	if size, _, err := be.Head(u.ctx, key); err != nil || size != int64(len(data)) {
		return 0, fmt.Errorf("upload: %s is %d bytes on the remote, %v", key, size, err)
	}
	if err := be.Delete(u.ctx, key); err != nil { // keep the server's disk use bounded
		return 0, err
	}
	u.b.logf("remote upload round %d: Call %s + Close %s", u.round, fmtDuration(float64(t1.Sub(t0))), fmtDuration(float64(t2.Sub(t1))))
	u.call = append(u.call, float64(t1.Sub(t0).Nanoseconds()))
	u.close = append(u.close, float64(t2.Sub(t1).Nanoseconds()))
	return float64(t2.Sub(t0).Nanoseconds()), nil
}

// run measures the scenario in bigRounds interleaved rounds and fills in r.
func (u *remoteUpload) run(r *Row) error {
	setVars(u.env)
	be, err := remote.OpenBackend(u.ctx, fmt.Sprintf("s3://%s/upload-floor", u.bucket))
	if err != nil {
		return err
	}
	// A first upload, not counted, as perOp warms up: the first 100 MiB
	// result of a process costs a growth of its heap (here 0.5 s more).
	if _, err := u.publish(); err != nil {
		return err
	}
	u.call, u.close = nil, nil
	best, err := interleave(u.ctx, u.b.cfg.bigRounds, u.floor(be), u.publish)
	if err != nil {
		return err
	}
	mbps := func(ns float64) float64 { return float64(u.size()) / ns * 1e3 }
	r.Result, r.FloorValue = mbps(best[1]), mbps(best[0])
	bi := 0 // the best round's parts
	for i := range u.call {
		if u.call[i]+u.close[i] < u.call[bi]+u.close[bi] {
			bi = i
		}
	}
	r.Note = fmt.Sprintf("best round: Call %s + Close %s, the flush alone %.0f MB/s",
		fmtDuration(u.call[bi]), fmtDuration(u.close[bi]), mbps(u.close[bi]))
	return nil
}
