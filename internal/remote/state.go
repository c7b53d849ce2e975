package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
)

// fnState is one function's remote index read whole: the records of its
// newest checkpoint and of every log entry after it.
type fnState struct {
	name       string
	dir        string // fnDir(name)
	checkpoint uint64 // the checkpoint read (0: none)
	seq        uint64 // log entries 1..seq are in entries
	segments   []string
	entries    []record.Entry
	problems   []Problem
}

// segmentSource returns the bytes of a segment of function name: from a
// local mirror when it has them, else from the remote.
type segmentSource func(ctx context.Context, name, file string) ([]byte, error)

func remoteSegments(b Backend) segmentSource {
	return func(ctx context.Context, name, file string) ([]byte, error) {
		return getAll(ctx, b, segmentKey(name, file), maxSegment)
	}
}

// maxSegment bounds a segment read into memory (refused larger, before it
// is allocated: a hostile bucket's 1 GiB segment would cost every machine
// that refreshes the function twice that); segmentTarget is the size of
// the segments pcache writes (compact and publish split larger ones), so a
// legitimate segment is far below the bound.
const maxSegment = 64 << 20

var segmentTarget = 16 << 20 // a variable for tests

// maxLogWalk bounds the log entries a reader that follows the log until a
// number is missing (a publisher's compaction) reads in one go: a remote
// that answers every GET would otherwise keep it reading for ever. What
// was read is still a correct prefix of the log: a checkpoint of it is
// valid, and the next compaction goes on from there.
const maxLogWalk = 4096

// loadOptions says how a function's state is read.
type loadOptions struct {
	// listed: find the newest checkpoint and the log's end by listing
	// (maintenance), instead of trusting the head hint and reading the log
	// until a number is missing (publishers).
	listed   bool
	segments segmentSource
	// maxLog, if not 0, stops an unlisted read after that many log
	// entries past the checkpoint (see maxLogWalk).
	maxLog int
}

// loadState reads function name's index. Every request failure is an
// error (a partial read must not be taken for the whole index); damaged
// entries and segments are problems, their records left out.
func loadState(ctx context.Context, b Backend, name string, opts loadOptions) (*fnState, error) {
	st := &fnState{name: name, dir: fnDir(name)}
	if opts.segments == nil {
		opts.segments = remoteSegments(b)
	}
	var logs []uint64
	if opts.listed {
		var err error
		var cps []uint64
		if cps, err = listSeqs(ctx, b, st.dir+"checkpoint/"); err != nil {
			return nil, err
		}
		if logs, err = listSeqs(ctx, b, st.dir+"log/"); err != nil {
			return nil, err
		}
		for i := len(cps) - 1; i >= 0; i-- {
			if ok, err := st.readCheckpoint(ctx, b, cps[i], opts.segments); err != nil {
				return nil, err
			} else if ok {
				break
			}
		}
	} else {
		seq, err := readHead(ctx, b, name)
		if err != nil {
			return nil, err
		}
		if seq > 0 {
			if _, err := st.readCheckpoint(ctx, b, seq, opts.segments); err != nil {
				return nil, err
			}
		}
	}
	st.seq = st.checkpoint
	for i, read := 0, 0; ; i, read = i+1, read+1 {
		if !opts.listed && opts.maxLog > 0 && read >= opts.maxLog {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := st.seq + 1
		if opts.listed {
			for i < len(logs) && logs[i] <= st.checkpoint {
				i++
			}
			if i >= len(logs) {
				break
			}
			if logs[i] != n {
				st.problem(KindLogGap, logKey(name, n), fmt.Sprintf("log entries %d to %d are missing; readers stop at %d", n, logs[i]-1, n-1))
				break
			}
		}
		le, err := readLogEntry(ctx, b, name, n)
		if errors.Is(err, ErrNotExist) {
			break
		}
		if errors.Is(err, errDamaged) {
			st.seq = n
			st.problem(KindBadLog, logKey(name, n), "not a log entry of this function, or names something other than segments (readers skip it)")
			continue
		}
		if err != nil {
			return nil, err
		}
		st.seq = n
		if err := st.readSegments(ctx, le.Segments, opts.segments); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// readCheckpoint reads checkpoint seq and its segments, reporting whether
// it was usable.
func (st *fnState) readCheckpoint(ctx context.Context, b Backend, seq uint64, src segmentSource) (bool, error) {
	cp, err := readCheckpoint(ctx, b, st.name, seq)
	switch {
	case errors.Is(err, ErrNotExist):
		return false, nil
	case errors.Is(err, errDamaged):
		st.problem(KindBadCheckpoint, checkpointKey(st.name, seq), "not a checkpoint of this function")
		return false, nil
	case err != nil:
		return false, err
	}
	before := len(st.problems)
	if err := st.readSegments(ctx, cp.Segments, src); err != nil {
		return false, err
	}
	if len(st.problems) != before {
		return false, nil // an earlier checkpoint, or the log, may still have them
	}
	st.checkpoint = seq
	return true, nil
}

// readSegments reads and decodes segments into st.entries.
func (st *fnState) readSegments(ctx context.Context, files []string, src segmentSource) error {
	for _, file := range files {
		if !layout.IsSegmentName(file) {
			st.problem(KindBadSegment, segmentKey(st.name, file), "not a segment name")
			continue
		}
		data, err := src(ctx, st.name, file)
		if errors.Is(err, ErrNotExist) {
			st.problem(KindMissingSegment, segmentKey(st.name, file), "named by the index but not on the remote")
			continue
		}
		if err != nil {
			return err
		}
		if sum := blake3.Sum256(data); layout.SegmentName(sum[:]) != file {
			st.problem(KindBadSegment, segmentKey(st.name, file), "content does not hash to its name")
			continue
		}
		es, err := manifest.DecodeSegment(st.name, data)
		if err != nil {
			st.problem(KindBadSegment, segmentKey(st.name, file), err.Error())
			continue
		}
		st.segments = append(st.segments, file)
		st.entries = append(st.entries, es...)
	}
	return nil
}

func (st *fnState) problem(kind, key, detail string) {
	st.problems = append(st.problems, Problem{Kind: kind, Key: key, Function: st.name, Detail: detail})
}

// listSeqs lists the numbered keys under prefix, in increasing order.
func listSeqs(ctx context.Context, b Backend, prefix string) ([]uint64, error) {
	var out []uint64
	err := b.List(ctx, prefix, func(key string, _ int64, _ time.Time) error {
		if n, err := parseSeq(strings.TrimPrefix(key, prefix)); err == nil && n > 0 {
			out = append(out, n)
		}
		return nil
	})
	return out, err
}

// compact writes a checkpoint of st's live records at st.seq and points the
// head at it. Another process's checkpoint at the same number counts as
// done (it holds the same records). It returns the checkpoint's segment.
func compact(ctx context.Context, b Backend, st *fnState) ([]string, error) {
	segs, err := encodeSegments(st.name, manifest.Resolve(st.entries))
	if err != nil {
		return nil, err
	}
	if len(segs) > maxCheckpointSegments {
		return nil, fmt.Errorf("remote: %s: a checkpoint of %d segments is more than readers accept (%d)", st.name, len(segs), maxCheckpointSegments)
	}
	files := make([]string, len(segs))
	for i, sg := range segs {
		if err := putBytes(ctx, b, segmentKey(st.name, sg.file), sg.data, true); err != nil && !errors.Is(err, ErrExists) {
			return nil, err
		}
		files[i] = sg.file
	}
	cp := encode(checkpoint{Format: checkpointFormat, Version: formatVersion, Name: st.name, Seq: st.seq, Segments: files})
	if err := putBytes(ctx, b, checkpointKey(st.name, st.seq), cp, true); err != nil && !errors.Is(err, ErrExists) {
		return nil, err
	}
	// The head only moves forward: a compactor that raced ahead of us must
	// not be undone (readers would read more log, nothing worse).
	if seq, err := readHead(ctx, b, st.name); err == nil && seq >= st.seq {
		return files, nil
	}
	return files, putBytes(ctx, b, headKey(st.name), encode(head{Seq: st.seq}), false)
}

// encoded is a segment ready to put.
type encoded struct {
	file    string
	data    []byte
	entries []record.Entry
}

// encodeSegments encodes entries as segments of at most segmentTarget
// bytes each (halving a batch that comes out larger), so every segment
// pcache writes is well within what readers accept (maxSegment).
func encodeSegments(name string, entries []record.Entry) ([]encoded, error) {
	file, data, err := manifest.EncodeSegment(name, entries)
	if err != nil {
		return nil, err
	}
	if len(data) <= segmentTarget || len(entries) <= 1 {
		if len(data) > maxSegment {
			return nil, fmt.Errorf("remote: %s: a record of %d bytes is more than a segment may hold", name, len(data))
		}
		return []encoded{{file: file, data: data, entries: entries}}, nil
	}
	half := len(entries) / 2
	a, err := encodeSegments(name, entries[:half])
	if err != nil {
		return nil, err
	}
	c, err := encodeSegments(name, entries[half:])
	if err != nil {
		return nil, err
	}
	return append(a, c...), nil
}

// publish puts entries of function name as a segment and appends a log
// entry naming it, at the first free number after from (the Delta Lake
// commit protocol: a create-only put of log/<n>, moving on when n is
// taken). It returns the number used and the segment. The entries must fit
// one segment (encodeSegments splits them). A remote that answers "taken"
// to every number is given up on after maxPublishTries searches for the
// log's end.
func publish(ctx context.Context, b Backend, name string, entries []record.Entry, from uint64, writer string, now time.Time) (uint64, string, []byte, error) {
	file, data, err := manifest.EncodeSegment(name, entries)
	if err != nil {
		return 0, "", nil, err
	}
	if len(data) > maxSegment {
		return 0, "", nil, fmt.Errorf("remote: %s: a segment of %d bytes is more than readers accept", name, len(data))
	}
	if err := putBytes(ctx, b, segmentKey(name, file), data, true); err != nil && !errors.Is(err, ErrExists) {
		return 0, "", nil, err
	}
	le := encode(logEntry{Format: logFormat, Version: formatVersion, Name: name, Segments: []string{file}, Writer: writer, Time: now.UnixNano()})
	n := from + 1
	for try := 1; ; try++ {
		if try > maxPublishTries {
			return 0, "", nil, fmt.Errorf("remote: %s: every log number tried (%d times, the last %d) was taken; the remote answers create-only puts wrongly", name, maxPublishTries, n)
		}
		err := putBytes(ctx, b, logKey(name, n), le, true)
		if err == nil {
			return n, file, data, nil
		}
		if !errors.Is(err, ErrExists) {
			return 0, "", nil, err
		}
		if n, err = logEnd(ctx, b, name, n); err != nil {
			return 0, "", nil, err
		}
		n++
	}
}

// maxPublishTries bounds the log numbers one publish tries: a writer that
// loses the race for a number finds the log's end and takes the next one,
// so only a remote that lies about create-only puts (or many writers
// publishing the same function at the very same moment) loses 32 times.
const maxPublishTries = 32

// logEnd returns the last number of function name's log, knowing that
// entry known exists: it gallops forward with heads and then bisects, so a
// writer far behind finds the end in a few requests.
func logEnd(ctx context.Context, b Backend, name string, known uint64) (uint64, error) {
	exists := func(n uint64) (bool, error) {
		_, _, err := b.Head(ctx, logKey(name, n))
		if errors.Is(err, ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	lo, step := known, uint64(1)
	hi := lo + step
	for {
		if hi < lo {
			// Past 2^64: a remote that says every number exists.
			return 0, fmt.Errorf("remote: %s: the remote says log entries past %d exist", name, lo)
		}
		ok, err := exists(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, step = hi, step*2
		hi = lo + step
	}
	for hi-lo > 1 { // lo exists, hi does not
		mid := lo + (hi-lo)/2
		ok, err := exists(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}
