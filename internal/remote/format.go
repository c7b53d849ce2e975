package remote

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/layout"
)

// The remote's own files: small CBOR maps (core deterministic encoding), so
// any CBOR tool reads them.
const (
	formatVersion    = 1
	markerKey        = "pcache-remote.json"
	logFormat        = "pcache-remote-log"
	checkpointFormat = "pcache-remote-checkpoint"
)

// How large each file read from a remote may be. A bucket is written by
// whoever holds its credentials, so every size read from it is bounded
// before anything is allocated for it; a larger file is refused like a
// damaged one.
const (
	maxHead       = 4 << 10   // {"seq": n}: a dozen bytes
	maxLogEntry   = 256 << 10 // names a few segments (pcache writes one)
	maxCheckpoint = 1 << 20   // names at most maxCheckpointSegments segments
	maxSmall      = maxCheckpoint
	// maxLogSegments and maxCheckpointSegments bound the segments one log
	// entry or checkpoint may name (each is a download).
	maxLogSegments        = 64
	maxCheckpointSegments = 4096
)

// logEntry is the content of fn/<h>/log/<n>: the segments published n-th.
type logEntry struct {
	Format   string   `cbor:"format"`
	Version  int      `cbor:"version"`
	Name     string   `cbor:"name"`
	Segments []string `cbor:"segments"`
	Writer   string   `cbor:"writer,omitempty"`
	Time     int64    `cbor:"time,omitempty"`
}

// checkpoint is the content of fn/<h>/checkpoint/<n>: segments that hold
// every record of log entries 1..n.
type checkpoint struct {
	Format   string   `cbor:"format"`
	Version  int      `cbor:"version"`
	Name     string   `cbor:"name"`
	Seq      uint64   `cbor:"seq"`
	Segments []string `cbor:"segments"`
}

// head is the content of fn/<h>/head: the newest checkpoint (a hint; a
// reader that finds it stale reads the log further).
type head struct {
	Seq uint64 `cbor:"seq"`
}

var (
	encMode = func() cbor.EncMode {
		m, err := cbor.CoreDetEncOptions().EncMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
	decMode = func() cbor.DecMode {
		m, err := cbor.DecOptions{MaxNestedLevels: 8, MaxArrayElements: 1 << 16, MaxMapPairs: 32,
			IndefLength: cbor.IndefLengthForbidden, TagsMd: cbor.TagsForbidden, DupMapKey: cbor.DupMapKeyEnforcedAPF}.DecMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
)

func encode(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(err) // only our own fixed types
	}
	return b
}

// fnDir is the key prefix of function name's index.
func fnDir(name string) string {
	sum := blake3.Sum256([]byte(name))
	return "fn/" + hex.EncodeToString(sum[:16]) + "/"
}

func logKey(name string, seq uint64) string { return fmt.Sprintf("%slog/%020d", fnDir(name), seq) }
func checkpointKey(name string, seq uint64) string {
	return fmt.Sprintf("%scheckpoint/%020d", fnDir(name), seq)
}
func headKey(name string) string          { return fnDir(name) + "head" }
func segmentKey(name, file string) string { return fnDir(name) + "segments/" + file }
func objectKey(id [32]byte) string        { return "objects/" + hex.EncodeToString(id[:]) }
func decodeSmall(b []byte, v any) error   { return decMode.Unmarshal(b, v) }

// compressedKey is the key of object id stored compressed: a zstd frame
// whose decompressed bytes hash to id (as a compressing cache keeps it,
// objects/ab/<62 hex>.zst). The name, never the content, says so.
func compressedKey(id [32]byte) string { return objectKey(id) + layout.CompressedExt }

// parseObjectKey returns the object a key of objects/ names, and whether
// it is the compressed form.
func parseObjectKey(key string) (id [32]byte, compressed, ok bool) {
	rest, found := strings.CutPrefix(key, "objects/")
	if !found {
		return id, false, false
	}
	rest, compressed = strings.CutSuffix(rest, layout.CompressedExt)
	if len(rest) != 64 || !layout.IsLowerHex(rest, 64) {
		return id, false, false
	}
	hex.Decode(id[:], []byte(rest))
	return id, compressed, true
}

// readHead returns the checkpoint number function name's head names: 0
// when there is no head, or it does not decode (it is only a hint).
func readHead(ctx context.Context, b Backend, name string) (uint64, error) {
	seq, err := readHeadChecked(ctx, b, name)
	if errors.Is(err, errDamaged) {
		return 0, nil
	}
	return seq, err
}

// readHeadChecked is readHead telling a head that is there but is not one
// (errDamaged: it does not decode, or a bit flip renamed its seq key)
// from no head. A mirror that finds it damaged looks for the newest
// checkpoint itself: after a remote gc removed the log a checkpoint
// covers, reading that log from its start would find nothing.
func readHeadChecked(ctx context.Context, b Backend, name string) (uint64, error) {
	data, err := getAll(ctx, b, headKey(name), maxHead)
	if errors.Is(err, ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var h head
	if decodeSmall(data, &h) != nil || h.Seq == 0 || !hasField(data, "seq") {
		return 0, fmt.Errorf("%w: the head of %s is not a head", errDamaged, name)
	}
	return h.Seq, nil
}

// readCheckpoint returns checkpoint seq of function name (an error
// wrapping ErrNotExist when it is absent, errDamaged when it is not a
// checkpoint of that function at that number).
func readCheckpoint(ctx context.Context, b Backend, name string, seq uint64) (checkpoint, error) {
	data, err := getAll(ctx, b, checkpointKey(name, seq), maxCheckpoint)
	if err != nil {
		return checkpoint{}, err
	}
	return decodeCheckpoint(data, name, seq)
}

// decodeCheckpoint decodes checkpoint seq of function name. Its segments
// field must be there, if empty (a function whose every entry a remote gc
// evicted): a bit flip that renames the key would otherwise read as a
// checkpoint of nothing, an index silently emptied.
func decodeCheckpoint(data []byte, name string, seq uint64) (checkpoint, error) {
	var cp checkpoint
	if err := decodeSmall(data, &cp); err != nil || cp.Format != checkpointFormat || cp.Name != name || cp.Seq != seq ||
		len(cp.Segments) > maxCheckpointSegments || !hasField(data, "segments") {
		return checkpoint{}, fmt.Errorf("%w: checkpoint %d of %s is not one of its checkpoints", errDamaged, seq, name)
	}
	return cp, nil
}

// hasField reports whether the CBOR map data has key (decoding ignores a
// key it does not know, such as one a bit flip renamed).
func hasField(data []byte, key string) bool {
	var m map[string]cbor.RawMessage
	if decodeSmall(data, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}

// readLogEntry returns log entry n of function name (an error wrapping
// ErrNotExist past the log's end). A damaged entry — not an entry of that
// function, or naming something other than segments — is errDamaged:
// readers skip it, and check reports it.
func readLogEntry(ctx context.Context, b Backend, name string, n uint64) (logEntry, error) {
	data, err := getAll(ctx, b, logKey(name, n), maxLogEntry)
	if err != nil {
		return logEntry{}, err
	}
	return decodeLogEntry(data, name, n)
}

// decodeLogEntry decodes log entry n of function name. Every entry a writer
// makes names a segment: one that names none (its segments key renamed by
// a bit flip, say) is damaged, not an entry to take and skip silently.
func decodeLogEntry(data []byte, name string, n uint64) (logEntry, error) {
	var le logEntry
	if err := decodeSmall(data, &le); err != nil || le.Format != logFormat || le.Name != name ||
		len(le.Segments) == 0 || len(le.Segments) > maxLogSegments {
		return logEntry{}, fmt.Errorf("%w: log entry %d of %s is not one of its entries", errDamaged, n, name)
	}
	for _, f := range le.Segments {
		if !layout.IsSegmentName(f) {
			return logEntry{}, fmt.Errorf("%w: log entry %d of %s names %q, not a segment", errDamaged, n, name, f)
		}
	}
	return le, nil
}

// errDamaged is wrapped by the errors of index files that the remote
// returned but that are not what their key says: the remote answered, so
// they are not its failure.
var errDamaged = errors.New("remote: damaged index file")

// parseSeq parses the 20 digits of a log or checkpoint key.
func parseSeq(s string) (uint64, error) {
	if len(s) != 20 {
		return 0, fmt.Errorf("remote: %q is not a log number", s)
	}
	return strconv.ParseUint(s, 10, 64)
}
