package manifest

import (
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/retire"
)

// Short names for the record types in tests.
type (
	Entry      = record.Entry
	OutFile    = record.OutFile
	PathRecord = record.PathRecord
)

// kh returns the key hash of test key i.
func kh(i int) record.KeyHash { return blake3.Sum256([]byte(fmt.Sprintf("key-%d", i))) }

// ent returns a test entry for key i whose result is derived from v.
func ent(i int, v string) Entry {
	return Entry{
		KeyHash: kh(i),
		Key:     []byte(fmt.Sprintf("key-%d", i)),
		Result:  blake3.Sum256([]byte(v)),
		Size:    int64(len(v)),
	}
}

// fakeClock returns a Now func that advances one second per call.
func fakeClock() func() time.Time {
	t := time.Unix(1_700_000_000, 0)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func mustOpen(t testing.TB, root, name string, opts Options) *Manifest {
	t.Helper()
	m, err := Open(layout.New(root), name, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func mustAppend(t testing.TB, m *Manifest, es ...Entry) {
	t.Helper()
	if err := m.Append(es...); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

// lookup returns the entry for key i, failing the test on error.
func lookup(t testing.TB, m *Manifest, i int) (Entry, bool) {
	t.Helper()
	e, ok, err := m.Lookup(kh(i))
	if err != nil {
		t.Fatalf("Lookup(%d): %v", i, err)
	}
	return e, ok
}

// wantResult checks that key i resolves to the result of v.
func wantResult(t testing.TB, m *Manifest, i int, v string) {
	t.Helper()
	e, ok := lookup(t, m, i)
	if !ok {
		t.Fatalf("key %d: missing, want result of %q", i, v)
	}
	if e.Result != cas.Sum([]byte(v)) {
		t.Fatalf("key %d: wrong result %s, want that of %q", i, e.Result, v)
	}
}

func wantAbsent(t testing.TB, m *Manifest, i int) {
	t.Helper()
	if e, ok := lookup(t, m, i); ok {
		t.Fatalf("key %d: present (%+v), want absent", i, e)
	}
}

// files lists the manifest files of dir by kind.
func files(t testing.TB, dir string) (journals, segments []string) {
	t.Helper()
	l, err := listDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Inputs a compaction retired stay for a grace period (package retire)
	// but are no longer the manifest's own files.
	root := filepath.Dir(dir)
	for !strings.HasSuffix(root, string(os.PathSeparator)+layout.ManifestsDir) {
		root = filepath.Dir(root)
	}
	d := layout.New(filepath.Dir(root))
	retired, err := retire.List(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	live := func(names []string) (out []string) {
		for _, n := range names {
			if _, ok := retired[d.Rel(filepath.Join(dir, n))]; !ok {
				out = append(out, n)
			}
		}
		return out
	}
	return live(l.journals), live(l.segments)
}

// copyTree copies every regular file under src/manifests into dst/manifests
// that dst does not already have with the same content, like rsync -a
// without --delete (files only; rsync also never copies our lock files since
// they live outside manifests/).
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	base := filepath.Join(src, "manifests")
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		// As rsync -a --append-verify (the README's command) does: a target
		// at least as long is left alone; a shorter one that is a prefix
		// gets the rest appended in place; anything else is replaced by a
		// temp file renamed over it.
		if have, err := os.ReadFile(target); err == nil {
			if len(have) >= len(data) {
				return nil
			}
			if string(data[:len(have)]) == string(have) {
				f, err := os.OpenFile(target, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					return err
				}
				_, err = f.Write(data[len(have):])
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				return err
			}
		}
		tmp := target + ".rsync-tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, target)
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

// allEntries returns Iterate's entries keyed by hash, checking the order.
func allEntries(t testing.TB, m *Manifest) map[[32]byte]Entry {
	t.Helper()
	out := make(map[[32]byte]Entry)
	var keys [][32]byte
	if err := m.Iterate(func(e Entry) error {
		out[e.KeyHash] = e
		keys = append(keys, e.KeyHash)
		return nil
	}); err != nil {
		t.Fatalf("Iterate: %v", err)
	}
	if !sort.SliceIsSorted(keys, func(i, j int) bool { return string(keys[i][:]) < string(keys[j][:]) }) {
		t.Fatal("Iterate not in key order")
	}
	if len(out) != len(keys) {
		t.Fatal("Iterate returned a key twice")
	}
	return out
}

// futureHeader encodes a file header of the given format whose version is
// one past what this package reads.
func futureHeader(format, name string, count *uint64) ([]byte, error) {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return em.Marshal(&record.Header{Format: format, Version: record.MaxVersion + 1, Digest: "blake3-256", Name: name, Count: count})
}

// crc32c is the frame checksum, for tests that forge frames.
func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// decodeEntry decodes a record payload.
func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	err := record.Decode(b, &e)
	return e, err
}

// segments returns the segments of m's view, read under its lock (a
// background compaction may be installing a new view meanwhile).
func segments(m *Manifest) []*segment {
	m.rw.RLock()
	defer m.rw.RUnlock()
	return slices.Clone(m.segList)
}

// trackedJournals returns how many journals m's view reads, under its lock.
func trackedJournals(m *Manifest) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.journals)
}
