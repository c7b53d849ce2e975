package remote

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
)

// publishN publishes entries from..to-1 of function name, one log entry
// each, with their objects.
func publishN(t *testing.T, b Backend, name string, from, to int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < to; i++ {
		data := []byte(fmt.Sprintf("object %d of %s", i, name))
		e := entry(i)
		e.Result, e.Size, e.Time = blake3.Sum256(data), int64(len(data)), time.Now().UnixNano()
		if err := putBytes(ctx, b, objectKey(e.Result), data, true); err != nil {
			t.Fatal(err)
		}
		st, err := loadState(ctx, b, name, loadOptions{listed: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := publish(ctx, b, name, []record.Entry{e}, st.seq, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// checkpointNow compacts function name's log into a checkpoint at its end.
func checkpointNow(t *testing.T, b Backend, name string) uint64 {
	t.Helper()
	ctx := context.Background()
	st, err := loadState(ctx, b, name, loadOptions{listed: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compact(ctx, b, st); err != nil {
		t.Fatal(err)
	}
	return st.seq
}

// TestGCKeepsIndexBehindDamagedCheckpoint (issue 22, item 6): a damaged
// newest checkpoint never makes gc delete a function's index. gc leaves
// the function alone (remote check flags it); and even on its own, the
// log is removed only up to a checkpoint that reads and whose segments
// are there. remote check -repair then deletes the damaged checkpoint and
// points the head at a good one, after which gc goes on.
func TestGCKeepsIndexBehindDamagedCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	b, err := NewFileBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	const name = "gc/damaged"
	if err := putBytes(ctx, b, markerKey, encode(map[string]any{"format": "pcache-remote", "version": formatVersion}), true); err != nil {
		t.Fatal(err)
	}
	publishN(t, b, name, 0, 5)
	first := checkpointNow(t, b, name)
	publishN(t, b, name, 5, 10)
	last := checkpointNow(t, b, name) // at the log's end: the one gc would settle on
	if err := putBytes(ctx, b, checkpointKey(name, last), []byte("garbled"), false); err != nil {
		t.Fatal(err)
	}
	later := GCOptions{Grace: time.Nanosecond, Now: time.Now().Add(48 * time.Hour)}
	want := func(when string) {
		t.Helper()
		if got := publishedEntries(t, b, name); len(got) != 10 {
			t.Fatalf("%s: %d of 10 entries left in the index", when, len(got))
		}
	}

	// gcFunction alone (as if the checkpoint were damaged after the
	// inspection): it settles on the first checkpoint, which reads.
	l, err := list(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	f := l.fns[fnDir(name)]
	if n, err := settledCheckpoint(ctx, b, f, name, later); err != nil || n != first {
		t.Fatalf("settled on %d, %v; want the first checkpoint %d, not the damaged %d", n, err, first, last)
	}
	var rep GCReport
	if err := gcFunction(ctx, b, f, name, later, &rep); err != nil {
		t.Fatal(err)
	}
	want("after gcFunction")
	if rep.DeletedLog != int(first) {
		t.Fatalf("gcFunction deleted %d log entries; want the %d the good checkpoint covers", rep.DeletedLog, first)
	}

	// GC: the function is flagged, so left alone.
	grep, err := GC(ctx, b, later)
	if err != nil {
		t.Fatal(err)
	}
	if len(grep.Refused) != 1 || grep.Refused[0].Function != name || grep.DeletedLog != 0 || grep.DeletedSegments != 0 || grep.DeletedObjects != 0 {
		t.Fatalf("gc of a function with a damaged checkpoint: %+v", grep)
	}
	want("after gc")

	// check -repair deletes the damaged checkpoint; gc then compacts.
	irep, err := Inspect(ctx, b, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := Repair(ctx, b, irep)
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Deleted) != 1 || rr.Deleted[0].Kind != KindBadCheckpoint || len(rr.HeadsMoved) != 1 {
		t.Fatalf("repair: %+v", rr)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(checkpointKey(name, last)))); !os.IsNotExist(err) {
		t.Fatalf("the damaged checkpoint is still there: %v", err)
	}
	if grep, err = GC(ctx, b, later); err != nil || len(grep.Refused) != 0 || len(grep.Compacted) != 1 {
		t.Fatalf("gc after repair: %+v, %v", grep, err)
	}
	want("after repair and gc")
	if irep, err = Inspect(ctx, b, InspectOptions{Verify: true}); err != nil || len(irep.Problems) != 0 {
		t.Fatalf("check after repair and gc: %+v, %v", irep.Problems, err)
	}
}

// TestGCRefusesFlaggedFunction (issue 22, item 6): gc touches nothing of a
// function remote check flags (a missing segment here), keeps the objects
// its readable entries name, and goes on with the other functions.
func TestGCRefusesFlaggedFunction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	b, err := NewFileBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, b, "gc/flagged", 0, 4)
	publishN(t, b, "gc/fine", 0, 4)
	segs, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(fnDir("gc/flagged")), "segments", "*"))
	if err != nil || len(segs) != 4 {
		t.Fatalf("%d segments, %v", len(segs), err)
	}
	if err := os.Remove(segs[0]); err != nil {
		t.Fatal(err)
	}
	before := len(publishedEntries(t, b, "gc/flagged"))
	rep, err := GC(ctx, b, GCOptions{Grace: time.Nanosecond, Now: time.Now().Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Refused) != 1 || rep.Refused[0].Function != "gc/flagged" || rep.Refused[0].Kind != KindMissingSegment {
		t.Fatalf("refused %+v", rep.Refused)
	}
	if len(rep.Compacted) != 1 || rep.Compacted[0] != "gc/fine" {
		t.Fatalf("compacted %v; want the other function only", rep.Compacted)
	}
	if after := len(publishedEntries(t, b, "gc/flagged")); after != before {
		t.Fatalf("the flagged function had %d readable entries, %d after gc", before, after)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, filepath.FromSlash(fnDir("gc/flagged")), "log", "*"))
	if len(logs) != 4 {
		t.Fatalf("%d log entries of the flagged function left, want all 4", len(logs))
	}
}

// TestPublisherIgnoresHeadWithoutCheckpoint: a head naming a checkpoint
// that is not there (garbled, or written by hand) does not send a
// publisher past the log's end, which would leave a gap readers stop at.
func TestPublisherIgnoresHeadWithoutCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newFileBackend(t)
	const name = "head/bogus"
	publishN(t, b, name, 0, 3)
	if err := putBytes(ctx, b, headKey(name), encode(head{Seq: 1000}), false); err != nil {
		t.Fatal(err)
	}
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
	tier, err := Open(ctx, b, d, store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tier.PublishUse(name, entry(7)) // a record whose objects need no upload
	if err := tier.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := loadState(ctx, b, name, loadOptions{listed: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.problems) != 0 || st.seq != 4 {
		t.Fatalf("log ends at %d with problems %v; want entry 4 right after the 3 there", st.seq, st.problems)
	}
}
