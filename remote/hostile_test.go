//go:build unix

package remote

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/manifest/record"
)

// newTier opens a tier of b for a fresh local cache.
func newTier(t *testing.T, b Backend, opts Options) (*Tier, layout.Dir) {
	t.Helper()
	d := layout.New(t.TempDir())
	for _, p := range []string{d.Objects(), d.Tmp(), d.Locks(), d.Manifests()} {
		if err := os.MkdirAll(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	store, err := cas.Open(d, cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tier, err := Open(context.Background(), b, d, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tier.Close() })
	return tier, d
}

// writeOutbox leaves an outbox file of function name with entries (uses of
// entries whose objects are on the remote: published without uploads), as
// a process that died would.
func writeOutbox(t *testing.T, d layout.Dir, b Backend, file string, name string, entries ...record.Entry) string {
	t.Helper()
	dir := d.RemoteOutbox(tierID(b))
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	var items []item
	for _, e := range entries {
		items = append(items, item{name: name, e: e, uploaded: true})
	}
	data, err := encodeItems(items)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, file+layout.OutboxExt)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tierID is the name Open gives b's local state.
func tierID(b Backend) string {
	sum := blake3.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:8])
}

func newTestLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// published returns the live entries function name has on the remote.
func publishedEntries(t *testing.T, b Backend, name string) []record.Entry {
	t.Helper()
	st, err := loadState(context.Background(), b, name, loadOptions{listed: true})
	if err != nil {
		t.Fatal(err)
	}
	return live(st.entries)
}

// TestOutboxOfAnotherUserIsNotPublished (issue 26, item 7): an outbox file
// in a shared cache directory that another user wrote is never published
// with this user's credentials; it is left in place, counted and logged
// once, and its own writer's next Open publishes it. A link or a fifo in
// the outbox is refused without blocking.
func TestOutboxOfAnotherUserIsNotPublished(t *testing.T) {
	ctx := context.Background()
	b := newFileBackend(t)
	d := layout.New(t.TempDir())
	for _, p := range []string{d.Objects(), d.Tmp(), d.Locks()} {
		os.MkdirAll(p, 0o777)
	}
	store, err := cas.Open(d, cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Tier {
		tier, err := Open(ctx, b, d, store, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return tier
	}
	theirs := writeOutbox(t, d, b, "theirs", "poisoned", entry(1), entry(2))
	outside := filepath.Join(t.TempDir(), "outside.pco")
	os.WriteFile(outside, mustEncode(t, item{name: "linked", e: entry(3), uploaded: true}), 0o644)
	outbox := filepath.Dir(theirs)
	if err := os.Symlink(outside, filepath.Join(outbox, "link"+layout.OutboxExt)); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(outbox, "fifo"+layout.OutboxExt), 0o644); err != nil {
		t.Fatal(err)
	}

	// Play another user: the file belongs to someone else.
	me := os.Getuid()
	currentUID = func() int { return me + 4242 }
	defer func() { currentUID = os.Getuid }()
	var logged bytes.Buffer
	tier, err := Open(ctx, b, d, store, Options{Logger: newTestLogger(&logged)})
	if err != nil {
		t.Fatal(err)
	}
	if err := tier.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st := tier.Stats()
	tier.Close()
	currentUID = os.Getuid
	if got := publishedEntries(t, b, "poisoned"); len(got) != 0 {
		t.Fatalf("another user's outbox was published: %d entries", len(got))
	}
	if got := publishedEntries(t, b, "linked"); len(got) != 0 {
		t.Fatalf("an outbox link was followed and published")
	}
	if st.ForeignOutbox != 1 {
		t.Errorf("ForeignOutbox = %d, want 1", st.ForeignOutbox)
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Errorf("another user's outbox file was touched: %v", err)
	}
	if n := strings.Count(logged.String(), "written by another user"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logged.String())
	}

	if os.Getuid() == 0 {
		// Root can make the real case: a file owned by uid 65534.
		if err := os.Chown(theirs, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		tier := open()
		tier.Flush(ctx)
		st := tier.Stats()
		tier.Close()
		if got := publishedEntries(t, b, "poisoned"); len(got) != 0 || st.ForeignOutbox != 1 {
			t.Fatalf("root published a file of uid 65534: %d entries, ForeignOutbox %d", len(got), st.ForeignOutbox)
		}
		os.Chown(theirs, os.Getuid(), os.Getgid())
	}

	// Its owner's next Open publishes it.
	tier = open()
	if err := tier.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tier.Close()
	if got := publishedEntries(t, b, "poisoned"); len(got) != 2 {
		t.Fatalf("the owner's Open published %d entries, want 2", len(got))
	}
	if _, err := os.Stat(theirs); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("published outbox file still there: %v", err)
	}
}

func mustEncode(t *testing.T, items ...item) []byte {
	b, err := encodeItems(items)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLocalRemoteStateIsOpenedSafely: the remote's state file and a
// mirror's are opened like every cache file: a fifo does not block, a link
// to /dev/zero is not read, a huge file is not read.
func TestLocalRemoteStateIsOpenedSafely(t *testing.T) {
	ctx := context.Background()
	b := newFileBackend(t)
	tier, d := newTier(t, b, Options{ReadOnly: true, Timeout: 2 * time.Second})
	fi, err := tier.index("f")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(fi.dir, layout.MirrorState)
	for _, plant := range []func() error{
		func() error { return syscall.Mkfifo(state, 0o644) },
		func() error { return os.Symlink("/dev/zero", state) },
		func() error { return os.WriteFile(state, make([]byte, maxStateFile+1), 0o644) },
	} {
		os.Remove(state)
		if err := plant(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { fi.load(); tier.Lookup(ctx, "f", [32]byte{1}, false); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("reading a planted mirror state hung")
		}
	}
	rs := d.RemoteState(tier.id)
	os.Remove(rs)
	if err := syscall.Mkfifo(rs, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readRegular(rs, maxStateFile); err == nil {
		t.Fatal("a fifo read as the remote's state")
	}
}

// liar is a remote that answers everything: every key exists, every Get
// returns body(key), every create-only put finds the key taken.
type liar struct {
	body              func(key string) []byte
	gets, heads, puts atomic.Int64
}

func (l *liar) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	l.gets.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(l.body(key))), nil
}
func (l *liar) Put(ctx context.Context, key string, r io.Reader, size int64, createOnly bool) error {
	l.puts.Add(1)
	if createOnly {
		return fmt.Errorf("%w: %s", ErrExists, key)
	}
	return nil
}
func (l *liar) Head(ctx context.Context, key string) (int64, time.Time, error) {
	l.heads.Add(1)
	return 1, time.Now(), nil
}
func (l *liar) List(ctx context.Context, prefix string, fn func(string, int64, time.Time) error) error {
	return nil
}
func (l *liar) Delete(ctx context.Context, key string) error { return nil }
func (l *liar) String() string                               { return "liar://" }

// TestHostileRemoteLoopsAreBounded (issue 26, item 9): a remote that says
// yes to everything — 200 with an empty or a valid-looking body for every
// log number, "exists" for every Head and create-only put — ends every
// loop within a bounded number of requests and time.
func TestHostileRemoteLoopsAreBounded(t *testing.T) {
	ctx := context.Background()
	validLog := func(key string) []byte {
		return encode(logEntry{Format: logFormat, Version: formatVersion, Name: "f"})
	}
	for _, tc := range []struct {
		name    string
		body    func(string) []byte
		maxGets int64
	}{
		{"empty-200", func(string) []byte { return nil }, 3*(maxDamagedPerRefresh+1) + 8},
		{"same-log-entry", validLog, maxRefreshSteps + 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &liar{body: tc.body}
			tier, _ := newTier(t, l, Options{ReadOnly: true, Timeout: 5 * time.Second})
			start := time.Now()
			tier.Lookup(ctx, "f", [32]byte{1}, false)
			if g := l.gets.Load(); g > tc.maxGets {
				t.Errorf("one lookup made %d GETs, want at most %d", g, tc.maxGets)
			}
			before := l.gets.Load()
			tier.Lookup(ctx, "f", [32]byte{2}, false) // within Options.Refresh: no request
			if g := l.gets.Load() - before; g != 0 {
				t.Errorf("the next lookup made %d GETs, want 0 (the rest waits for the next refresh)", g)
			}
			if el := time.Since(start); el > 20*time.Second {
				t.Errorf("lookups took %v", el)
			}
		})
	}

	l := &liar{body: validLog}
	if _, _, _, err := publish(ctx, l, "f", []record.Entry{entry(1)}, 0, "w", time.Now()); err == nil {
		t.Fatal("publish to a remote whose every log number is taken succeeded")
	}
	if n := l.puts.Load() + l.heads.Load(); n > maxPublishTries*(2*64+2)+2 {
		t.Errorf("publish made %d requests", n)
	}
	l = &liar{body: validLog}
	if _, err := logEnd(ctx, l, "f", 1); err == nil {
		t.Fatal("logEnd found an end on a remote where every number exists")
	}
	if h := l.heads.Load(); h > 66 {
		t.Errorf("logEnd made %d HEADs", h)
	}
	l = &liar{body: validLog}
	st, err := loadState(ctx, l, "f", loadOptions{maxLog: maxLogWalk})
	if err != nil || st.seq != maxLogWalk {
		t.Fatalf("loadState: seq %d, err %v; want it to stop at %d", st.seq, err, maxLogWalk)
	}
}

// hostileS3 is an S3 endpoint on 127.0.0.1 answering every request with
// 200 and whatever answer(key, w) writes.
func hostileS3(t *testing.T, answer func(key string, w http.ResponseWriter, r *http.Request)) (Backend, *atomic.Int64) {
	t.Helper()
	var gets atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/bucket/prefix/")
		switch r.Method {
		case http.MethodGet:
			gets.Add(1)
			if r.URL.Query().Has("list-type") {
				w.Header().Set("Content-Type", "application/xml")
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>`)
				return
			}
			answer(key, w, r)
		case http.MethodHead:
			w.Header().Set("Content-Length", "1")
			w.WriteHeader(http.StatusOK)
		default:
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "hostile")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "hostilesecret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	b, err := OpenBackend(context.Background(), "s3://bucket/prefix")
	if err != nil && strings.Contains(err.Error(), "pcache_nos3") {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b, &gets
}

// endless writes zeros until the client goes away.
func endless(w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := w.Write(buf); err != nil {
			return
		}
		if r.Context().Err() != nil {
			return
		}
	}
}

// TestHostileBucket (issue 26, item 9) runs a real S3 client against an
// endpoint that answers 200 to every GET: with an empty body, with a
// Content-Length of a TiB, with an endless body, with a stalled body. Every
// read of the index is refused before it is allocated or at its bound; a
// fetch stops at the size the record promised (nothing is left in tmp/),
// and a stalled fetch ends at the idle timeout, not at a deadline grown by
// the declared size; an entry declaring 2^50 bytes is not fetched at all.
func TestHostileBucket(t *testing.T) {
	ctx := context.Background()
	mode := atomic.Value{}
	mode.Store("empty")
	b, gets := hostileS3(t, func(key string, w http.ResponseWriter, r *http.Request) {
		switch mode.Load().(string) {
		case "empty":
			w.WriteHeader(http.StatusOK)
		case "huge-length":
			w.Header().Set("Content-Length", fmt.Sprint(int64(1)<<40))
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the client must not wait for the rest
		case "endless":
			endless(w, r)
		case "stall":
			w.Header().Set("Content-Length", fmt.Sprint(1<<20))
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("0123456789"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	})

	// 200 to every GET: one lookup is a bounded number of requests.
	tier, d := newTier(t, b, Options{ReadOnly: true, Timeout: 2 * time.Second})
	tier.Lookup(ctx, "f", [32]byte{1}, false)
	if g := gets.Load(); g > 3*(maxDamagedPerRefresh+1)+8 {
		t.Errorf("a lookup against 200-to-every-GET made %d GETs", g)
	}

	// Sizes are bounded before allocation.
	for _, m := range []string{"huge-length", "endless"} {
		mode.Store(m)
		for _, tc := range []struct {
			key   string
			limit int64
		}{{headKey("f"), maxHead}, {logKey("f", 1), maxLogEntry}, {checkpointKey("f", 1), maxCheckpoint}, {segmentKey("f", "x"), maxSegment}} {
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			c, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := getAll(c, b, tc.key, tc.limit)
			cancel()
			runtime.ReadMemStats(&ms1)
			if err == nil || !strings.Contains(err.Error(), "larger than") {
				t.Errorf("%s %s: err %v, want refused as too large", m, tc.key, err)
			}
			// A declared length is refused before anything is allocated
			// for the body; an undeclared one is read (doubling) to the
			// bound and no further.
			bound := uint64(8 << 20)
			if m == "endless" {
				bound = uint64(4*tc.limit + 16<<20)
			}
			if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > bound {
				t.Errorf("%s %s: allocated %d bytes for a limit of %d", m, tc.key, alloc, tc.limit)
			}
			if m == "huge-length" && time.Since(start) > 10*time.Second {
				t.Errorf("%s %s: took %v", m, tc.key, time.Since(start))
			}
		}
	}

	// Objects: an endless body stops at the promised size; nothing stays in tmp/.
	mode.Store("endless")
	e := record.Entry{Result: cas.ID{7}, Size: 1 << 20, Codec: "raw"}
	e.KeyHash[0] = 1
	if err := tier.Fetch(ctx, &e); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("endless object: %v", err)
	}
	if ents, _ := os.ReadDir(d.Tmp()); len(ents) != 0 {
		t.Errorf("tmp/ holds %d files after a refused download", len(ents))
	}
	// A declared 2^50 bytes: not fetched at all.
	before := gets.Load()
	e.Size = 1 << 50
	if err := tier.Fetch(ctx, &e); !errors.Is(err, ErrUnavailable) || gets.Load() != before || tier.Stats().TooLarge != 1 {
		t.Fatalf("2^50-byte object: err %v, %d GETs, TooLarge %d", err, gets.Load()-before, tier.Stats().TooLarge)
	}
	// A stalled body ends at the idle timeout (2 s), whatever the size says.
	mode.Store("stall")
	e.Size = 1 << 30
	start := time.Now()
	if err := tier.Fetch(ctx, &e); !errors.Is(err, ErrUnavailable) || !errors.Is(err, errStalled) {
		t.Fatalf("stalled object: %v", err)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("a stalled 1 GiB download took %v to give up (idle timeout 2s)", el)
	}
}

// TestRemoteURLCredentialsNeverEchoed: credentials written into a remote
// URL are refused, and neither the key nor the secret appears in the
// error, whether the URL parses or not.
func TestRemoteURLCredentialsNeverEchoed(t *testing.T) {
	for _, u := range []string{
		"s3://AKIAKEY:SECRETSECRET@bucket/prefix",
		"s3://AKIAKEY:SECRETSECRET@bucket",
		"s3://AKIAKEY@bucket/p",
		"s3://AKIAKEY:SECRET%zzSECRET@bucket/p", // does not parse
		"s3://AKIAKEY:SECRET SECRET@bu cket/p",
		"file://AKIAKEY:SECRETSECRET@/tmp/x",
		"AKIAKEY:SECRETSECRET@bucket",
		"ftp://AKIAKEY:SECRETSECRET@host/x",
	} {
		_, err := OpenBackend(context.Background(), u)
		if err == nil {
			t.Errorf("%s: accepted", u)
			continue
		}
		if s := err.Error(); strings.Contains(s, "AKIAKEY") || strings.Contains(s, "SECRETSECRET") || strings.Contains(s, "zzSECRET") || strings.Contains(s, "SECRET SECRET") {
			t.Errorf("%s: error echoes the credentials: %s", u, s)
		}
	}
}

// TestFileRemoteStaysInside: a file:// remote whose directories are links
// out of it, or whose blobs are links, fifos or devices, is never written,
// read or deleted through them; keys with ".." are refused.
func TestFileRemoteStaysInside(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	outside := t.TempDir()
	b, err := NewFileBackend(root)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(outside, "victim"), []byte("mine"), 0o644)
	if err := os.Symlink(outside, filepath.Join(root, "fn")); err != nil {
		t.Fatal(err)
	}
	if err := putBytes(ctx, b, "fn/victim", []byte("x"), false); err == nil {
		t.Error("put through a linked directory succeeded")
	}
	if err := b.Delete(ctx, "fn/victim"); err == nil {
		t.Error("delete through a linked directory succeeded")
	}
	if _, err := b.Get(ctx, "fn/victim"); err == nil {
		t.Error("get through a linked directory succeeded")
	}
	if got, _ := os.ReadFile(filepath.Join(outside, "victim")); string(got) != "mine" {
		t.Errorf("the file outside became %q", got)
	}
	os.MkdirAll(filepath.Join(root, "objects"), 0o777)
	os.Symlink("/dev/zero", filepath.Join(root, "objects", "zero"))
	syscall.Mkfifo(filepath.Join(root, "objects", "fifo"), 0o644)
	for _, k := range []string{"objects/zero", "objects/fifo", "../x", "objects/../../x", "/etc/passwd"} {
		done := make(chan error, 1)
		go func() { _, err := b.Get(ctx, k); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("get %s succeeded", k)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("get %s hung", k)
		}
	}
}

// TestLargeIndexesAreSplit: since readers refuse segments over maxSegment,
// compaction and publishing split what they write into segments of at
// most segmentTarget bytes, and a checkpoint of several segments reads
// back whole.
func TestLargeIndexesAreSplit(t *testing.T) {
	ctx := context.Background()
	defer func(n int) { segmentTarget = n }(segmentTarget)
	segmentTarget = 4 << 10
	b := newFileBackend(t)
	var es []record.Entry
	for i := range 300 {
		es = append(es, entry(i+1))
	}
	segs, err := encodeSegments("f", es)
	if err != nil || len(segs) < 4 {
		t.Fatalf("%d segments, err %v; want several", len(segs), err)
	}
	n := uint64(0)
	for _, sg := range segs {
		if len(sg.data) > segmentTarget {
			t.Fatalf("a segment of %d bytes (target %d)", len(sg.data), segmentTarget)
		}
		if n, _, _, err = publish(ctx, b, "f", sg.entries, n, "w", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	st, err := loadState(ctx, b, "f", loadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := compact(ctx, b, st)
	if err != nil || len(files) < 4 {
		t.Fatalf("checkpoint of %d segments, err %v", len(files), err)
	}
	st, err = loadState(ctx, b, "f", loadOptions{})
	if err != nil || st.checkpoint != n || len(live(st.entries)) != len(es) {
		t.Fatalf("from the checkpoint: checkpoint %d (want %d), %d entries (want %d), err %v", st.checkpoint, n, len(live(st.entries)), len(es), err)
	}
}
