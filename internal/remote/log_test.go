package remote

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/manifest/record"
)

func newFileBackend(t *testing.T) Backend {
	t.Helper()
	b, err := NewFileBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func entry(i int) record.Entry {
	var e record.Entry
	e.KeyHash[0], e.KeyHash[1], e.KeyHash[2], e.KeyHash[31] = byte(i>>16), byte(i>>8), byte(i), 1
	e.Result[0] = byte(i)
	e.Codec, e.Size, e.Time = "cbor", int64(i), int64(1_000_000+i)
	return e
}

// counting counts requests by kind.
type counting struct {
	Backend
	heads, gets, puts atomic.Int64
}

func (c *counting) Head(ctx context.Context, key string) (int64, time.Time, error) {
	c.heads.Add(1)
	return c.Backend.Head(ctx, key)
}

func (c *counting) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, key)
}

func (c *counting) Put(ctx context.Context, key string, r io.Reader, size int64, createOnly bool) error {
	c.puts.Add(1)
	return c.Backend.Put(ctx, key, r, size, createOnly)
}

// TestPublishConcurrentWriters: writers that all start from the same log
// number each get a number of their own, with no gap and no entry lost.
func TestPublishConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newFileBackend(t)
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := w*each + i
				if _, _, _, err := publish(ctx, b, "f", []record.Entry{entry(n)}, 0, fmt.Sprint("w", w), time.Now()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	st, err := loadState(ctx, b, "f", loadOptions{listed: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.seq != writers*each || len(st.problems) != 0 {
		t.Fatalf("log ends at %d with problems %v; want %d entries, no gap", st.seq, st.problems, writers*each)
	}
	if got := len(Resolve(st)); got != writers*each {
		t.Fatalf("%d live entries, want %d", got, writers*each)
	}
	// A reader that trusts the head and reads until a number is missing
	// sees the same.
	st2, err := loadState(ctx, b, "f", loadOptions{})
	if err != nil || st2.seq != st.seq || len(st2.entries) != len(st.entries) {
		t.Fatalf("unlisted read: seq %d, %d entries, %v", st2.seq, len(st2.entries), err)
	}
}

// Resolve is a test shorthand for the live entries of a state.
func Resolve(st *fnState) []record.Entry { return live(st.entries) }

// TestLogEndGallops: a writer far behind finds the end in O(log n) heads,
// in a log of 1,000 entries (-short, 200: a search one entry at a time
// from the start would still take 8 times the 25 heads allowed).
func TestLogEndGallops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &counting{Backend: newFileBackend(t)}
	last := uint64(1000)
	if testing.Short() {
		last = 200
	}
	for n := uint64(1); n <= last; n++ {
		if err := putBytes(ctx, c, logKey("f", n), []byte("x"), true); err != nil {
			t.Fatal(err)
		}
	}
	for _, known := range []uint64{1, last / 2, last - 1, last} {
		c.heads.Store(0)
		end, err := logEnd(ctx, c, "f", known)
		if err != nil || end != last {
			t.Fatalf("logEnd(known %d) = %d, %v", known, end, err)
		}
		if h := c.heads.Load(); h > 25 {
			t.Fatalf("logEnd(known %d) took %d heads", known, h)
		}
	}
}

// TestCompactionServesNewReaders: after a checkpoint, a new reader reads
// the checkpoint and the log after it, not the whole log.
func TestCompactionServesNewReaders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &counting{Backend: newFileBackend(t)}
	var seq uint64
	for i := range 100 {
		var err error
		if seq, _, _, err = publish(ctx, c, "f", []record.Entry{entry(i)}, seq, "w", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	st, err := loadState(ctx, c, "f", loadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compact(ctx, c, st); err != nil {
		t.Fatal(err)
	}
	for i := 100; i < 103; i++ {
		if seq, _, _, err = publish(ctx, c, "f", []record.Entry{entry(i)}, seq, "w", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	c.gets.Store(0)
	st, err = loadState(ctx, c, "f", loadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.checkpoint != 100 || st.seq != 103 || len(Resolve(st)) != 103 {
		t.Fatalf("checkpoint %d, seq %d, %d live entries", st.checkpoint, st.seq, len(Resolve(st)))
	}
	// head, checkpoint, its segment, 3 log entries and their segments, the missing 104th
	if g := c.gets.Load(); g > 10 {
		t.Fatalf("a new reader made %d gets after a checkpoint", g)
	}
}

// TestTombstonesAndForgetAll: the checkpoint of a log keeps what the
// records resolve to.
func TestTombstonesAndForgetAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newFileBackend(t)
	e1, e2, e3 := entry(1), entry(2), entry(3)
	tomb := record.Entry{KeyHash: e2.KeyHash, Deleted: true, Time: e2.Time + 1}
	seq, _, _, err := publish(ctx, b, "f", []record.Entry{e1, e2}, 0, "w", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if seq, _, _, err = publish(ctx, b, "f", []record.Entry{tomb}, seq, "w", time.Now()); err != nil {
		t.Fatal(err)
	}
	st, err := loadState(ctx, b, "f", loadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := Resolve(st); len(got) != 1 || got[0].KeyHash != e1.KeyHash {
		t.Fatalf("after a tombstone: %d entries", len(got))
	}
	forget := record.Entry{KeyHash: record.ForgetAll, Deleted: true, Time: e3.Time - 1}
	e3.Time = forget.Time + 10
	if seq, _, _, err = publish(ctx, b, "f", []record.Entry{forget, e3}, seq, "w", time.Now()); err != nil {
		t.Fatal(err)
	}
	if st, err = loadState(ctx, b, "f", loadOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := Resolve(st); len(got) != 1 || got[0].KeyHash != e3.KeyHash {
		t.Fatalf("after forget-all: %d entries", len(got))
	}
	if _, err := compact(ctx, b, st); err != nil {
		t.Fatal(err)
	}
	// A late record older than the forget-all stays forgotten after the
	// compaction (the checkpoint keeps the function-wide tombstone).
	late := entry(9)
	late.Time = forget.Time - 5
	if _, _, _, err = publish(ctx, b, "f", []record.Entry{late}, seq, "w", time.Now()); err != nil {
		t.Fatal(err)
	}
	if st, err = loadState(ctx, b, "f", loadOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := Resolve(st); len(got) != 1 || got[0].KeyHash != e3.KeyHash {
		t.Fatalf("a late record older than forget-all came back: %d entries", len(got))
	}
}

// TestDamagedIndexFiles: damaged log entries and segments are problems,
// never a failure of the whole read.
func TestDamagedIndexFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newFileBackend(t)
	seq, file, _, err := publish(ctx, b, "f", []record.Entry{entry(1)}, 0, "w", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := putBytes(ctx, b, logKey("f", seq+1), []byte("not cbor"), true); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := publish(ctx, b, "f", []record.Entry{entry(2)}, seq+1, "w", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := putBytes(ctx, b, segmentKey("f", file), []byte("damaged"), false); err != nil {
		t.Fatal(err)
	}
	st, err := loadState(ctx, b, "f", loadOptions{listed: true})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, p := range st.problems {
		kinds[p.Kind] = true
	}
	if !kinds[KindBadLog] || !kinds[KindBadSegment] || len(Resolve(st)) != 1 || st.seq != 3 {
		t.Fatalf("problems %v, %d entries, seq %d", st.problems, len(Resolve(st)), st.seq)
	}
}

func TestOutboxFraming(t *testing.T) {
	t.Parallel()
	items := []item{{name: "a", e: entry(1)}, {name: "b/c", e: entry(2), uploaded: true}, {name: "a", e: entry(3)}}
	b, err := encodeItems(items)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeItems(b); len(got) != 3 || got[1].name != "b/c" || !got[1].uploaded || got[0].uploaded || got[2].e.KeyHash != items[2].e.KeyHash {
		t.Fatalf("decoded %d items", len(got))
	}
	for cut := range len(b) {
		got := decodeItems(b[:cut])
		for i, it := range got {
			if it.name != items[i].name || it.e.KeyHash != items[i].e.KeyHash {
				t.Fatalf("cut at %d: item %d is %v", cut, i, it)
			}
		}
	}
	flipped := append([]byte(nil), b...)
	flipped[len(flipped)/2] ^= 1
	if got := decodeItems(flipped); len(got) != 2 {
		t.Fatalf("a flipped bit in the middle record left %d records; want the other 2", len(got))
	}
}

func FuzzDecodeItems(f *testing.F) {
	b, _ := encodeItems([]item{{name: "a", e: entry(1)}, {name: "b", e: entry(2)}})
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, it := range decodeItems(data) {
			if _, err := record.Encode(&it.e); err != nil {
				t.Fatalf("decoded an entry that does not encode: %v", err)
			}
		}
	})
}

func FuzzDecodeIndexFiles(f *testing.F) {
	f.Add(encode(logEntry{Format: logFormat, Version: 1, Name: "f", Segments: []string{"s-00"}}))
	f.Add(encode(checkpoint{Format: checkpointFormat, Version: 1, Name: "f", Seq: 3}))
	f.Add(encode(head{Seq: 7}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var le logEntry
		var cp checkpoint
		var h head
		decodeSmall(data, &le)
		decodeSmall(data, &cp)
		decodeSmall(data, &h)
	})
}

func TestBreaker(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	var b breaker
	b.init(func() time.Time { return now })
	for i := range failLimit {
		if !b.allow() {
			t.Fatalf("closed breaker refused request %d", i)
		}
		opened := b.fail()
		if opened != (i == failLimit-1) {
			t.Fatalf("failure %d: opened %v", i+1, opened)
		}
	}
	if b.allow() {
		t.Fatal("open breaker allowed a request")
	}
	now = now.Add(minBackoff)
	if !b.allow() {
		t.Fatal("no probe after the backoff")
	}
	if b.allow() {
		t.Fatal("a second request while probing")
	}
	b.fail() // the probe failed: twice the wait
	now = now.Add(minBackoff)
	if b.allow() {
		t.Fatal("the backoff did not grow")
	}
	now = now.Add(minBackoff)
	if !b.allow() {
		t.Fatal("no probe after the doubled backoff")
	}
	if !b.succeed() || !b.allow() {
		t.Fatal("a successful probe did not close the breaker")
	}
}
