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
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil"
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
// Not parallel: it swaps the package's currentUID.
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
	if err := testutil.Mkfifo(filepath.Join(outbox, "fifo"+layout.OutboxExt)); err != nil {
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
	t.Parallel()
	ctx := context.Background()
	b := newFileBackend(t)
	tier, d := newTier(t, b, Options{ReadOnly: true, Timeout: 2 * time.Second})
	fi, err := tier.index("f")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(fi.dir, layout.MirrorState)
	for _, plant := range []func() error{
		func() error { return testutil.Mkfifo(state) },
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
	if err := testutil.Mkfifo(rs); err != nil {
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
// log number (an entry naming a segment, whose bytes are then that entry
// again), "exists" for every Head and create-only put — ends every loop
// within a bounded number of requests and time. (Its entries named no
// segment until such entries became damaged; naming one, a refresh read
// 1,024 of them and each segment three times: 4,097 GETs for one lookup,
// now one run of damaged ones, as for damaged entries.)
func TestHostileRemoteLoopsAreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	validLog := func(key string) []byte {
		return encode(logEntry{Format: logFormat, Version: formatVersion, Name: "f", Segments: []string{layout.SegmentName(make([]byte, 32))}})
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

// TestRemoteURLCredentialsNeverEchoed: credentials written into a remote
// URL are refused, and neither the key nor the secret appears in the
// error, whether the URL parses or not.
func TestRemoteURLCredentialsNeverEchoed(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"s3://AKIAKEY:SECRETSECRET@bucket/prefix",
		"s3://AKIAKEY:SECRETSECRET@bucket",
		"s3://AKIAKEY@bucket/p",
		"s3://AKIAKEY:SECRET%zzSECRET@bucket/p", // does not parse
		"s3://AKIAKEY:SECRET SECRET@bu cket/p",
		"file://AKIAKEY:SECRETSECRET@/tmp/x",
		"AKIAKEY:SECRETSECRET@bucket",
		"ftp://AKIAKEY:SECRETSECRET@host/x",
		"s3://AKIAKEY:SECRET/SECRET@bucket/p", // AWS secrets hold "/"
		"s3://AKIAKEY:SECRET?SECRET@bucket/p",
		"s3://AKIAKEY:SECRET#SECRET@bucket/p",
		"s3://bucket/p?endpoint=http://AKIAKEY:SECRETSECRET@host",
		"s3://bucket/p?endpoint=http%3A%2F%2FAKIAKEY%3ASECRETSECRET%40host",
		"s3://bucket:1/p?nosuch=AKIAKEY:SECRETSECRET@x",
	} {
		_, err := OpenBackend(context.Background(), u)
		if err == nil {
			t.Errorf("%s: accepted", u)
			continue
		}
		if s := strings.ReplaceAll(err.Error(), "AWS_SECRET_ACCESS_KEY", ""); strings.Contains(s, "AKIAKEY") || strings.Contains(s, "SECRET") {
			t.Errorf("%s: error echoes the credentials: %s", u, s)
		}
	}
}

// TestFileRemoteStaysInside: a file:// remote whose directories are links
// out of it, or whose blobs are links, fifos or devices, is never written,
// read or deleted through them; keys with ".." are refused.
func TestFileRemoteStaysInside(t *testing.T) {
	t.Parallel()
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
	testutil.Mkfifo(filepath.Join(root, "objects", "fifo"))
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
// Not parallel: it sets the package's segmentTarget.
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

// TestForgedInlineResultIsNotServed: result bytes a record carries inline
// are stored only if they hash to the record's result ID; forged ones are
// counted as corrupt and the object is downloaded instead.
func TestForgedInlineResultIsNotServed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newFileBackend(t)
	real := []byte("the computed result")
	id := cas.ID(blake3.Sum256(real))
	if err := putBytes(ctx, b, objectKey(id), real, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		inline           []byte
		inlined, corrupt int64
	}{
		{"forged", []byte("a forged result!!!!"), 0, 1},
		{"true", real, 1, 0},
	} {
		tier, _ := newTier(t, b, Options{})
		e := record.Entry{KeyHash: [32]byte{1}, Time: 1, Result: id, Size: int64(len(real)), Codec: "raw", Inline: tc.inline}
		if err := tier.Fetch(ctx, &e); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := tier.store.Get(id, int64(len(real)))
		if err != nil || !bytes.Equal(got, real) {
			t.Fatalf("%s: stored %q, %v", tc.name, got, err)
		}
		if st := tier.Stats(); st.Inlined != tc.inlined || st.Corrupt != tc.corrupt || st.Hits != 1 {
			t.Fatalf("%s: %+v", tc.name, st)
		}
	}
}
