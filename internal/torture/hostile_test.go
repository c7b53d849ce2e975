package torture_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/zeebo/blake3"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil"
)

// The hostile-directory tests plant files a machine you do not trust could
// have rsynced into a cache, then use the cache through the public API. They
// never accept a panic, a hang, an allocation out of proportion to the input,
// a write anywhere but the out path the caller asked for, or the loss of the
// cache's good entries. (Values are another matter: a cache directory is
// trusted data, and a hostile one can map any key to any result it likes.)

const hostileName = "hostile/f"

type hostileArgs struct {
	X   int
	Out string `pcache:",out"`
}

func hostileVal(x int) string { return fmt.Sprintf("hostile test value %d", x) }
func hostileOut(x int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("out file of %d\n", x)), 3+x%5)
}

func hostileFn(_ context.Context, a hostileArgs) (string, error) {
	if err := os.WriteFile(a.Out, hostileOut(a.X), 0o644); err != nil {
		return "", err
	}
	return hostileVal(a.X), nil
}

// hostileKeys are the keys of the base cache; hostileTarget is the key that
// planted entries describe (absent from the base).
var hostileKeys = []int{0, 1, 2, 3}

const hostileTarget = 100

// hostileEnv is what planting functions know about the base cache.
type hostileEnv struct {
	name    string // manifest directory of hostileName
	entries map[int]record.Entry
	keys    map[int][32]byte
	segment []byte // the base's segment file
	outside string // a directory outside the cache that must stay untouched
	secret  string // a file in it
}

// buildHostileBase writes keys 0-1 (compacted into a segment by gc) and 2-3
// (in a journal), with out files.
func buildHostileBase(t *testing.T) (string, hostileEnv) {
	t.Helper()
	dir, outs := t.TempDir(), t.TempDir()
	ctx := context.Background()
	env := hostileEnv{
		name:    filepath.Join(dir, "manifests", filepath.FromSlash(hostileName)),
		entries: map[int]record.Entry{},
		keys:    map[int][32]byte{},
	}
	for i, keys := range [][]int{hostileKeys[:2], hostileKeys[2:]} {
		s := openStore(t, dir, pcache.PackLimit(0)) // objects as files: the cases plant things at their paths
		f := pcache.MustWrap(s, hostileName, hostileFn)
		if i == 0 {
			for _, x := range append(slices.Clone(hostileKeys), hostileTarget) {
				env.keys[x] = parseKey(t, f, hostileArgs{X: x})
			}
		}
		for _, x := range keys {
			if _, err := f.Call(ctx, hostileArgs{X: x, Out: filepath.Join(outs, strconv.Itoa(x))}); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		if i == 0 {
			if code, out := fsck(t, "gc", "-grace", "0s", "-dir", dir); code != 0 {
				t.Fatalf("gc: %d\n%s", code, out)
			}
		}
	}
	m, err := manifest.Open(layout.New(dir), hostileName, manifest.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, x := range append(slices.Clone(hostileKeys), hostileTarget) {
		e, ok, err := m.Lookup(env.keys[x])
		if err != nil || ok != (x != hostileTarget) {
			t.Fatalf("key %d: found %v, %v (the test's key hashes must match the library's)", x, ok, err)
		}
		env.entries[x] = e
	}
	segs, _ := filepath.Glob(filepath.Join(env.name, "s-*.pcs"))
	if len(segs) != 1 {
		t.Fatalf("base has segments %v, want one", segs)
	}
	if env.segment, err = os.ReadFile(segs[0]); err != nil {
		t.Fatal(err)
	}
	return dir, env
}

// Hand-made manifest bytes.

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

func cborHead(major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return []byte{m | byte(v)}
	case v <= 0xff:
		return []byte{m | 24, byte(v)}
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16([]byte{m | 25}, uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32([]byte{m | 26}, uint32(v))
	}
	return binary.BigEndian.AppendUint64([]byte{m | 27}, v)
}

// frame wraps a record payload with its length and a correct CRC-32C, so the
// reader goes on to decode it: these records are hostile, not damaged.
func frame(payload []byte) []byte {
	b := append([]byte{0x82}, cborHead(2, uint64(len(payload)))...)
	b = append(b, payload...)
	return append(b, cborHead(0, uint64(crc32.Checksum(payload, castagnoliTable)))...)
}

func mustCBOR(v any) []byte {
	em, _ := cbor.CoreDetEncOptions().EncMode()
	b, err := em.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func journalHeader(name string) []byte {
	return mustCBOR(map[string]any{"format": "pcache-journal", "version": 1, "digest": "blake3-256", "name": name})
}

// cborText and cborBytes encode a text or byte string.
func cborText(s string) []byte  { return append(cborHead(3, uint64(len(s))), s...) }
func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }

// rawMap encodes a map from the given key/value byte pairs, in the order
// given (duplicates allowed).
func rawMap(kv ...[]byte) []byte {
	b := cborHead(5, uint64(len(kv)/2))
	for _, x := range kv {
		b = append(b, x...)
	}
	return b
}

func plantFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if len(data) > 1024 {
		t.Fatalf("hostile file %s is %d bytes; the memory bound is asserted for files of at most 1 KiB", filepath.Base(path), len(data))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func plantJournal(t *testing.T, env hostileEnv, payloads ...[]byte) {
	t.Helper()
	b := journalHeader(hostileName)
	for _, p := range payloads {
		b = append(b, frame(p)...)
	}
	plantFile(t, filepath.Join(env.name, "j-hostile."+strconv.Itoa(len(b))+".pcj"), b)
}

// plantSegment writes a segment under the name its content hashes to, as a
// hostile writer would.
func plantSegment(t *testing.T, env hostileEnv, data []byte) {
	t.Helper()
	sum := blake3.Sum256(data)
	if err := os.WriteFile(filepath.Join(env.name, fmt.Sprintf("s-%x.pcs", sum)), data, 0o444); err != nil {
		t.Fatal(err)
	}
}

// appendEntries writes well-formed entries with the library's own encoder.
func appendEntries(t *testing.T, dir string, es ...record.Entry) {
	t.Helper()
	m, err := manifest.Open(layout.New(dir), hostileName, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Append(es...); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// putObject stores b in dir's object store.
func putObject(t *testing.T, dir string, b []byte) cas.ID {
	t.Helper()
	st, err := cas.Open(layout.New(dir), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.Put(b)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func objectPath(dir string, id cas.ID) string {
	return filepath.Join(dir, filepath.FromSlash(layout.ObjectRel(id)))
}

// targetEntry is a well-formed entry for hostileTarget whose result object
// holds the right value.
func targetEntry(t *testing.T, dir string, env hostileEnv) record.Entry {
	t.Helper()
	b, err := pcache.CBOR.Marshal(hostileVal(hostileTarget))
	if err != nil {
		t.Fatal(err)
	}
	return record.Entry{KeyHash: env.keys[hostileTarget], Result: putObject(t, dir, b), Size: int64(len(b)), Codec: "cbor"}
}

// hostileCase plants something in a copy of the base cache. Keys in touches
// may be recomputed (the planted file took their entry or object away); all
// other base keys must still hit.
type hostileCase struct {
	name    string
	touches []int
	plant   func(t *testing.T, dir string, env hostileEnv)
}

// hostileCases are every planted file, in groups by what they attack.
func hostileCases() []hostileCase { return slices.Concat(hostileCaseGroups()...) }

// hostileCaseGroups are hostileCases by the part of the cache they plant in.
func hostileCaseGroups() [][]hostileCase {
	return [][]hostileCase{hostileLengthCases(), hostileFieldCases(), hostileSegmentCases(),
		hostileFileTypeCases(), hostileOutPathCases()}
}

// cborKeyHash is base key x's hash as a CBOR byte string.
func cborKeyHash(env hostileEnv, x int) []byte { k := env.keys[x]; return cborBytes(k[:]) }

// cborResultID is the result ID of base entry x as a CBOR byte string.
func cborResultID(env hostileEnv, x int) []byte { r := env.entries[x].Result; return cborBytes(r[:]) }

// cborUint is v as a CBOR unsigned integer.
func cborUint(v uint64) []byte { return cborHead(0, v) }

// hostileLengthCases declare lengths and counts far beyond the bytes
// there, and nest records and results hundreds deep: a reader must neither
// allocate what a header claims nor recurse without bound.
func hostileLengthCases() []hostileCase {
	h, key := cborKeyHash, cborText
	return []hostileCase{
		// Declared lengths far beyond the bytes there.
		{name: "journal header string of 2^62 bytes", plant: func(t *testing.T, dir string, env hostileEnv) {
			b := append(cborHead(5, 4), cborText("name")...)
			b = append(b, cborHead(3, 1<<62)...)
			plantFile(t, filepath.Join(env.name, "j-hostile.hdr.pcj"), append(b, "abc"...))
		}},
		{name: "record frame of 2^62 bytes", plant: func(t *testing.T, dir string, env hostileEnv) {
			b := append(journalHeader(hostileName), 0x82)
			plantFile(t, filepath.Join(env.name, "j-hostile.frame.pcj"), append(append(b, cborHead(2, 1<<62)...), "abc"...))
		}},
		{name: "record frame of 4 MiB in a 1 KiB file", plant: func(t *testing.T, dir string, env hostileEnv) {
			b := append(journalHeader(hostileName), 0x82)
			b = append(append(b, cborHead(2, 4<<20-1)...), bytes.Repeat([]byte{0xa0}, 900)...)
			plantFile(t, filepath.Join(env.name, "j-hostile.short.pcj"), b)
		}},
		{name: "key of 2^62 bytes", plant: func(t *testing.T, dir string, env hostileEnv) {
			plantJournal(t, env, append(rawMap(key("h"), h(env, 1), key("k"), cborHead(2, 1<<62)), "xyz"...))
		}},
		{name: "2^31 out files", plant: func(t *testing.T, dir string, env hostileEnv) {
			plantJournal(t, env, append(rawMap(key("h"), h(env, 1), key("f"), cborHead(4, 1<<31)), 0xa0, 0xa0))
		}},
		{name: "map of 2^31 pairs", plant: func(t *testing.T, dir string, env hostileEnv) {
			plantJournal(t, env, append(cborHead(5, 1<<31), 0x61, 'h', 0x40))
		}},
		{name: "1000 out files of 1000 paths declared", plant: func(t *testing.T, dir string, env hostileEnv) {
			p := append(rawMap(key("h"), h(env, 1), key("f"), cborHead(4, 1000)), rawMap(key("p"), cborHead(4, 1000))...)
			plantJournal(t, env, append(p, bytes.Repeat([]byte{0xa0}, 500)...))
		}},
		{name: "result object of 2^50 bytes", touches: []int{1}, plant: func(t *testing.T, dir string, env hostileEnv) {
			e := env.entries[1]
			e.Size, e.Time = 1<<50, e.Time+1 // supersedes the good record
			appendEntries(t, dir, e)
		}},
		{name: "result decoding a string of 2^62 bytes", plant: func(t *testing.T, dir string, env hostileEnv) {
			e := targetEntry(t, dir, env)
			b := append(cborHead(3, 1<<62), "abc"...)
			e.Result, e.Size = putObject(t, dir, b), int64(len(b))
			appendEntries(t, dir, e)
		}},
		// Deep nesting.
		{name: "record nested 900 deep", plant: func(t *testing.T, dir string, env hostileEnv) {
			plantJournal(t, env, append(rawMap(key("h"), h(env, 1), key("f"), bytes.Repeat([]byte{0x81}, 900)), 0xa0))
		}},
		{name: "result nested 1000 deep", plant: func(t *testing.T, dir string, env hostileEnv) {
			e := targetEntry(t, dir, env)
			b := append(bytes.Repeat([]byte{0x81}, 1000), 0x60)
			e.Result, e.Size = putObject(t, dir, b), int64(len(b))
			appendEntries(t, dir, e)
		}},
	}
}

// hostileFieldCases are journal records with duplicate map keys or a field
// of the wrong type: none may shadow the good entry of the key it names.
func hostileFieldCases() []hostileCase {
	h, key, id, u := cborKeyHash, cborText, cborResultID, cborUint
	return []hostileCase{
		// Duplicate map keys.
		{name: "duplicate key hash", plant: func(t *testing.T, dir string, env hostileEnv) {
			plantJournal(t, env, rawMap(key("h"), h(env, 1), key("h"), h(env, 2), key("r"), id(env, 3), key("s"), u(uint64(env.entries[3].Size)), key("t"), u(1<<62)))
		}},
		{name: "duplicate result", plant: func(t *testing.T, dir string, env hostileEnv) {
			plantJournal(t, env, rawMap(key("h"), h(env, 1), key("r"), id(env, 3), key("r"), id(env, 1), key("s"), u(uint64(env.entries[1].Size)), key("t"), u(1<<62)))
		}},
		// Wrong types: each record is otherwise the entry of key 1 stamped
		// in the future, so a decoder that let it through would shadow key 1.
		{name: "wrong types", plant: func(t *testing.T, dir string, env hostileEnv) {
			good := func(k string) []byte {
				e := env.entries[1]
				switch k {
				case "h":
					return h(env, 1)
				case "r":
					return cborBytes(e.Result[:])
				case "s":
					return u(uint64(e.Size))
				case "t":
					return u(1 << 62)
				case "c":
					return cborText("cbor")
				}
				return nil
			}
			var payloads [][]byte
			for _, bad := range []struct{ k, v []byte }{
				{key("h"), cborText(strings.Repeat("h", 32))},
				{key("h"), cborBytes(make([]byte, 31))},
				{key("r"), cborText("not an id")},
				{key("r"), cborBytes(make([]byte, 33))},
				{key("s"), cborText("12")},
				{key("s"), cborHead(1, 5)},                          // negative
				{key("s"), []byte{0xfb, 0x40, 0, 0, 0, 0, 0, 0, 0}}, // float
				{key("t"), cborText("yesterday")},
				{key("c"), u(7)},
				{key("d"), cborText("yes")},
				{key("f"), rawMap(key("a"), cborText("Out"))},
				{key("f"), append(cborHead(4, 1), rawMap(key("a"), u(1), key("o"), id(env, 1))...)},
				{key("f"), append(cborHead(4, 1), rawMap(key("a"), cborText("Out"), key("o"), id(env, 1), key("p"), u(3))...)},
				{key("f"), append(cborHead(4, 1), rawMap(key("a"), cborText("Out"), key("o"), id(env, 1), key("m"), cborText("rwx"))...)},
				{[]byte{0x01}, u(1)},                      // integer map key
				{key("zz"), u(1)},                         // unknown field
				{key("t"), []byte{0xc1, 0x01}},            // a tag
				{key("k"), []byte{0x5f, 0x41, 'a', 0xff}}, // indefinite length
			} {
				kv := [][]byte{}
				for _, k := range []string{"c", "h", "r", "s", "t"} {
					if !bytes.Equal(key(k), bad.k) {
						kv = append(kv, key(k), good(k))
					}
				}
				payloads = append(payloads, rawMap(append(kv, bad.k, bad.v)...))
			}
			for len(payloads) > 0 { // several files, each at most 1 KiB
				n := min(6, len(payloads))
				plantJournal(t, env, payloads[:n]...)
				payloads = payloads[n:]
			}
		}},
	}
}

// hostileSegmentCases are segments, named by their hostile content's hash,
// whose trailer or index points out of range or at other keys.
func hostileSegmentCases() []hostileCase {
	return []hostileCase{
		// Segments named by their (hostile) content's hash.
		{name: "segment trailer pointing at 0", plant: func(t *testing.T, dir string, env hostileEnv) {
			b := slices.Clone(env.segment)
			binary.BigEndian.PutUint64(b[len(b)-8:], 0)
			plantSegment(t, env, b)
		}},
		{name: "segment trailer pointing past the end", plant: func(t *testing.T, dir string, env hostileEnv) {
			b := slices.Clone(env.segment)
			binary.BigEndian.PutUint64(b[len(b)-8:], 1<<63)
			plantSegment(t, env, b)
		}},
		{name: "segment index offsets out of range", plant: func(t *testing.T, dir string, env hostileEnv) {
			for _, off := range []uint64{1 << 63, uint64(len(env.segment) - 3), 1} {
				b := slices.Clone(env.segment)
				idx := binary.BigEndian.Uint64(b[len(b)-8:])
				_, n := cborHeadLen(b[idx:])
				for e := int(idx) + n; e+40 <= len(b)-9; e += 40 {
					binary.BigEndian.PutUint64(b[e+32:], off)
				}
				plantSegment(t, env, b)
			}
		}},
		{name: "segment index naming other keys", plant: func(t *testing.T, dir string, env hostileEnv) {
			// Every index entry claims key 2 and 3 (in the journal): a reader
			// that trusted the index would serve key 0's or 1's record.
			b := slices.Clone(env.segment)
			idx := binary.BigEndian.Uint64(b[len(b)-8:])
			_, n := cborHeadLen(b[idx:])
			for i, e := 0, int(idx)+n; e+40 <= len(b)-9; i, e = i+1, e+40 {
				k := env.keys[2+i%2]
				copy(b[e:], k[:])
			}
			plantSegment(t, env, b)
		}},
	}
}

// hostileFileTypeCases put directories, symlinks (to files outside the
// cache or to /dev/zero) and FIFOs where objects, journals and segments
// belong: a reader must not follow them out, block on them or read forever.
func hostileFileTypeCases() []hostileCase {
	return []hostileCase{
		// Non-regular files where objects belong.
		{name: "result object is a directory", touches: []int{1}, plant: func(t *testing.T, dir string, env hostileEnv) {
			p := objectPath(dir, env.entries[1].Result)
			os.Chmod(p, 0o644)
			os.Remove(p)
			plantFile(t, filepath.Join(p, "inside"), []byte("kept"))
		}},
		{name: "result object is a symlink to a file outside with the right bytes", touches: []int{2}, plant: func(t *testing.T, dir string, env hostileEnv) {
			p := objectPath(dir, env.entries[2].Result)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(env.secret, b, 0o600) // the secret now hashes to the object's name
			os.Chmod(p, 0o644)
			os.Remove(p)
			if err := os.Symlink(env.secret, p); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "result object is a symlink to /dev/zero", touches: []int{3}, plant: func(t *testing.T, dir string, env hostileEnv) {
			p := objectPath(dir, env.entries[3].Result)
			os.Chmod(p, 0o644)
			os.Remove(p)
			if err := os.Symlink("/dev/zero", p); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "result object is a fifo", touches: []int{0}, plant: func(t *testing.T, dir string, env hostileEnv) {
			p := objectPath(dir, env.entries[0].Result)
			os.Chmod(p, 0o644)
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "out-file object is a symlink to a file outside", touches: []int{1}, plant: func(t *testing.T, dir string, env hostileEnv) {
			p := objectPath(dir, env.entries[1].Outs[0].Object)
			os.Chmod(p, 0o644)
			os.Remove(p)
			if err := os.Symlink(env.secret, p); err != nil {
				t.Fatal(err)
			}
		}},
		// Non-regular files where manifest files belong.
		{name: "journal is a symlink to /dev/zero", plant: func(t *testing.T, dir string, env hostileEnv) {
			if err := os.Symlink("/dev/zero", filepath.Join(env.name, "j-hostile.zero.pcj")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "journal is a fifo", plant: func(t *testing.T, dir string, env hostileEnv) {
			if err := syscall.Mkfifo(filepath.Join(env.name, "j-hostile.fifo.pcj"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "journal and segment are directories", plant: func(t *testing.T, dir string, env hostileEnv) {
			plantFile(t, filepath.Join(env.name, "j-hostile.dir.pcj", "x"), []byte("x"))
			plantFile(t, filepath.Join(env.name, "s-"+strings.Repeat("ab", 32)+".pcs", "x"), []byte("x"))
		}},
	}
}

// hostileOutPathCases are out-file records whose paths point outside the
// out path the caller asked for (files outside, relative paths, FIFOs,
// devices, directories, 1000 paths, setuid modes) or name no argument:
// restoring must write only the caller's out path.
func hostileOutPathCases() []hostileCase {
	return []hostileCase{
		// Out-file records that point elsewhere.
		{name: "recorded out paths point at a file outside (object missing)", plant: func(t *testing.T, dir string, env hostileEnv) {
			e := targetEntry(t, dir, env)
			fi, _ := os.Stat(env.secret)
			e.Outs = []record.OutFile{{Arg: "Out", Object: cas.Sum([]byte("not stored")), Size: fi.Size(), Mode: 0o644,
				Paths: []record.PathRecord{{Path: env.secret, MtimeNs: fi.ModTime().UnixNano(), Size: fi.Size()}}}}
			appendEntries(t, dir, e)
		}},
		{name: "recorded out paths point at a file outside (object present)", plant: func(t *testing.T, dir string, env hostileEnv) {
			e := targetEntry(t, dir, env)
			want := hostileOut(hostileTarget)
			fi, _ := os.Stat(env.secret)
			e.Outs = []record.OutFile{{Arg: "Out", Object: putObject(t, dir, want), Size: int64(len(want)), Mode: 0o644,
				Paths: []record.PathRecord{{Path: env.secret, MtimeNs: fi.ModTime().UnixNano(), Size: fi.Size()}, {Path: env.outside}, {Path: "/"}}}}
			appendEntries(t, dir, e)
		}},
		{name: "recorded out paths: relative, fifo, device, directory, 1000 of them, setuid mode", plant: func(t *testing.T, dir string, env hostileEnv) {
			e := targetEntry(t, dir, env)
			want := hostileOut(hostileTarget)
			fifo := filepath.Join(env.outside, "fifo")
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			paths := []record.PathRecord{{Path: "../../" + filepath.Base(env.secret), Size: int64(len(want))}, {Path: fifo, Size: int64(len(want))},
				{Path: "/dev/zero", Size: int64(len(want))}, {Path: env.outside, Size: int64(len(want))}, {Path: "", Size: 1}}
			for i := len(paths); i < 1000; i++ {
				paths = append(paths, record.PathRecord{Path: filepath.Join(env.outside, strconv.Itoa(i)), Size: int64(len(want))})
			}
			e.Outs = []record.OutFile{{Arg: "Out", Object: cas.Sum(want), Size: int64(len(want)), Mode: 0o7777, Paths: paths}}
			appendEntries(t, dir, e)
		}},
		{name: "out-file record for an argument that does not exist", plant: func(t *testing.T, dir string, env hostileEnv) {
			e := targetEntry(t, dir, env)
			e.Outs = []record.OutFile{{Arg: "../../etc/passwd", Object: cas.Sum([]byte("x")), Size: 1, Paths: []record.PathRecord{{Path: env.secret}}}}
			appendEntries(t, dir, e)
		}},
	}
}

// cborHeadLen returns the argument and length of the CBOR head at b.
func cborHeadLen(b []byte) (uint64, int) {
	switch ai := b[0] & 0x1f; {
	case ai < 24:
		return uint64(ai), 1
	case ai == 24:
		return uint64(b[1]), 2
	case ai == 25:
		return uint64(binary.BigEndian.Uint16(b[1:])), 3
	case ai == 26:
		return uint64(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return binary.BigEndian.Uint64(b[1:]), 9
	}
}

// TestHostileCacheDirectory plants each hostile file in a copy of a small
// cache and then uses it through the public API: Open, Wrap, Call (normal
// and ErrorOnMiss), Contains and a batch call, then pcache-fsck check
// -repair (the binary in the first case of each group of hostileCases, its
// check -repair in this process in the others) and the same check in this
// process before and after it. Never a panic or a hang; at most 64 MiB
// allocated (by runtime.MemStats.TotalAlloc) for hostile files of at most
// 1 KiB; every base key not touched by the case still hits; every call
// returns the right value and out file; the file outside the cache and the
// out directory hold exactly what they should.
//
// It runs in a process of its own (testutil.Alone): the allocation bound
// reads a counter of the whole process, which other tests' calls would add
// to. Its cases run in parallel with each other there, and take turns only
// to measure (allocMu).
func TestHostileCacheDirectory(t *testing.T) {
	if !testutil.Alone(t) {
		return
	}
	base, env := buildHostileBase(t)
	// The cases whose repair runs the pcache-fsck binary: the first of
	// each group.
	viaCLI := map[string]bool{}
	for _, group := range hostileCaseGroups() {
		viaCLI[group[0].name] = true
	}
	for _, tc := range hostileCases() {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := testutil.CopyTree(base, dir, "locks", "tmp"); err != nil {
				t.Fatal(err)
			}
			env := env
			env.name = filepath.Join(dir, "manifests", filepath.FromSlash(hostileName))
			env.outside = t.TempDir()
			env.secret = filepath.Join(env.outside, "secret")
			if err := os.WriteFile(env.secret, []byte("secret contents\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, dir, env)
			outsideBefore := testutil.Snapshot(t, env.outside)
			exerciseHostile(t, dir, env, tc.touches)
			if after := testutil.Snapshot(t, env.outside); after != outsideBefore {
				t.Errorf("the directory outside the cache changed:\nbefore %v\nafter  %v", outsideBefore, after)
			}
			// Maintenance: check, check -repair and check again. The repair
			// runs the pcache-fsck binary in the first case of each group;
			// the checks, and the other cases' repairs, run its check in
			// this process (libCheck), taking turns with the allocation
			// measurements of the other cases.
			libChecks := func(when string, repair bool) {
				allocMu.Lock()
				defer allocMu.Unlock()
				if code, _, err := libCheck(dir, repair); code != 0 && code != 1 {
					t.Errorf("check %s: %v", when, err)
				}
			}
			libChecks("before the repair", false)
			if !viaCLI[tc.name] {
				libChecks("-repair", true)
			} else if code, out := fsck(t, "check", "-repair", "-dir", dir); code != 0 && code != 1 || strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Errorf("pcache-fsck check -repair exited %d:\n%s", code, out)
			}
			libChecks("after the repair", false)
			if after := testutil.Snapshot(t, env.outside); after != outsideBefore {
				t.Errorf("pcache-fsck changed the directory outside the cache:\nbefore %v\nafter  %v", outsideBefore, after)
			}
		})
	}
}

// allocMu is held while a case measures what the process allocates
// (runtime.MemStats.TotalAlloc counts every goroutine's allocations), so
// parallel cases do not add to each other's count.
var allocMu sync.Mutex

// exerciseHostile uses the cache through the public API under a hang guard
// and an allocation bound.
func exerciseHostile(t *testing.T, dir string, env hostileEnv, touches []int) {
	t.Helper()
	req := t.TempDir() // the only place out files may be written
	var requested []string
	hung := false
	allocMu.Lock()
	runtime.GC()
	grew := testutil.Allocated(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("panic: %v", r)
				}
			}()
			requested = useHostile(t, dir, req, touches)
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			hung = true
		}
	})
	allocMu.Unlock()
	if hung {
		t.Fatal("using the cache hung for 2 minutes")
	}
	if grew > 64<<20 {
		t.Errorf("using the cache allocated %d MiB", grew>>20)
	} else {
		t.Logf("allocated %d KiB", grew>>10)
	}
	var got []string
	filepath.WalkDir(req, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != req {
			got = append(got, p)
		}
		return nil
	})
	slices.Sort(got)
	slices.Sort(requested)
	if !slices.Equal(got, requested) {
		t.Errorf("out directory holds %v, want exactly the requested %v", got, requested)
	}
}

// useHostile makes every call the test checks and returns the out paths it
// requested.
func useHostile(t *testing.T, dir, req string, touches []int) (requested []string) {
	ctx := context.Background()
	s, err := pcache.Open(dir)
	if err != nil {
		t.Errorf("Open: %v", err)
		return nil
	}
	defer s.Close()
	var mu sync.Mutex
	computed := map[int]int{}
	fn := func(ctx context.Context, a hostileArgs) (string, error) {
		mu.Lock()
		computed[a.X]++
		mu.Unlock()
		return hostileFn(ctx, a)
	}
	f, err := pcache.Wrap(s, hostileName, fn)
	if err != nil {
		t.Errorf("Wrap: %v", err)
		return nil
	}
	b, err := pcache.WrapBatch(s, hostileName, func(ctx context.Context, as []hostileArgs) ([]string, error) {
		var out []string
		for _, a := range as {
			v, err := fn(ctx, a)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	})
	if err != nil {
		t.Errorf("WrapBatch: %v", err)
		return nil
	}
	for _, sub := range []string{"call", "batch"} {
		if err := os.Mkdir(filepath.Join(req, sub), 0o755); err != nil {
			t.Error(err)
			return nil
		}
		requested = append(requested, filepath.Join(req, sub))
	}
	check := func(what string, x int, v string, err error, p string) {
		if err != nil {
			t.Errorf("%s key %d: %v", what, x, err)
			return
		}
		if v != hostileVal(x) {
			t.Errorf("%s key %d: got %q, want %q", what, x, v, hostileVal(x))
		}
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, hostileOut(x)) {
			t.Errorf("%s key %d: out file holds %q (%v)", what, x, got, err)
		} else if fi, _ := os.Stat(p); fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
			t.Errorf("%s key %d: out file restored with mode %v", what, x, fi.Mode())
		}
	}
	for _, x := range append(slices.Clone(hostileKeys), hostileTarget) {
		c := ctx
		if x != hostileTarget && !slices.Contains(touches, x) {
			c = pcache.ErrorOnMiss(ctx) // must still hit
		}
		p := filepath.Join(req, "call", strconv.Itoa(x))
		requested = append(requested, p)
		v, err := f.Call(c, hostileArgs{X: x, Out: p})
		check("Call", x, v, err, p)
		if ok, err := f.Contains(ctx, hostileArgs{X: x}); err != nil || !ok {
			t.Errorf("Contains key %d after its call: %v, %v", x, ok, err)
		}
	}
	var args []hostileArgs
	for _, x := range append(slices.Clone(hostileKeys), hostileTarget) {
		p := filepath.Join(req, "batch", strconv.Itoa(x))
		requested = append(requested, p)
		args = append(args, hostileArgs{X: x, Out: p})
	}
	vs, err := b.Call(pcache.ErrorOnMiss(ctx), args)
	if err != nil {
		t.Errorf("batch call: %v", err)
	} else {
		for i, a := range args {
			check("batch", a.X, vs[i], nil, a.Out)
		}
	}
	for x, n := range computed {
		if n > 1 {
			t.Errorf("key %d computed %d times", x, n)
		}
	}
	return requested
}
