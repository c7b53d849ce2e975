package cas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/testutil"
)

// jsonLike returns n bytes of JSON-like text: records with repeating keys
// and varying numbers, as results of many functions are.
func jsonLike(seed, n int) []byte {
	var b bytes.Buffer
	b.Grow(n + 128) // one allocation: a record is under 128 bytes
	b.WriteByte('[')
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":"item-%d","score":%d.%03d,"tags":["a","b"],"ok":%v},`, seed*1000003+i, i%97, (i*7919+seed)%1000, i%1000, i%3 == 0)
	}
	return b.Bytes()[:n]
}

// zstdMagic prefixes a raw object that begins like a zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// TestCompressedObjects stores objects of several kinds with compression
// asked for and requires every way of reading them to give the bytes
// back, verified, whichever form each took on disk: compressible loose
// objects as <id>.zst, incompressible ones, small ones (packed) and a raw
// object that starts with zstd's magic raw.
func TestCompressedObjects(t *testing.T) {
	cases := []struct {
		name       string
		data       []byte
		packLimit  int
		compressed bool // stored as <id>.zst
	}{
		{"json-like 1 MiB", jsonLike(1, 1<<20), 0, true},
		{"json-like 9 MiB (pipelined sizes)", jsonLike(2, 9<<20+3), 0, true},
		{"zeros 200 KiB", make([]byte, 200<<10), 0, true},
		{"random 1 MiB: raw", testutil.Bytes(3, 1<<20), 0, false},
		{"random with a text tail: raw", append(testutil.Bytes(4, 256<<10), jsonLike(4, 16<<10)...), 0, false},
		{"text below the pack limit: packed raw", jsonLike(5, 40<<10), 0, false},
		{"text, packs off, 5 KiB", jsonLike(6, 5<<10), -1, true},
		{"text, packs off, 1 KiB: too small", jsonLike(7, 1<<10), -1, false},
		{"a zstd file a user caches (random inside): raw", append(append([]byte{}, zstdMagic...), testutil.Bytes(8, 300<<10)...), 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := layout.New(filepath.Join(t.TempDir(), "cache"))
			s, err := Open(dir, Options{PackLimit: tc.packLimit})
			if err != nil {
				t.Fatal(err)
			}
			if err := dir.WriteMarker(); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ids, err := s.PutBatchCompressed([][]byte{tc.data}, DefaultCompression)
			if err != nil {
				t.Fatal(err)
			}
			id := ids[0]
			if id != Sum(tc.data) {
				t.Fatalf("ID %s is not the BLAKE3 of the uncompressed bytes", id)
			}
			_, zerr := os.Lstat(s.ZstPath(id))
			_, rerr := os.Lstat(s.Path(id))
			if got := zerr == nil; got != tc.compressed {
				t.Fatalf("stored compressed: %v, want %v (raw file: %v)", got, tc.compressed, rerr == nil)
			}
			if tc.compressed && rerr == nil {
				t.Fatal("stored both raw and compressed")
			}
			if v := dir.LayoutVersion(); tc.compressed != (v == layout.CompressedVersion) {
				t.Fatalf("layout version %d after storing (compressed %v)", v, tc.compressed)
			}
			if tc.compressed {
				fi, _ := os.Stat(s.ZstPath(id))
				t.Logf("%d bytes -> %d on disk", len(tc.data), fi.Size())
				// By hand: the file is a plain zstd frame of the object.
				raw, err := zstd.DecodeTo(nil, readFile(t, s.ZstPath(id)))
				if err != nil || !bytes.Equal(raw, tc.data) {
					t.Fatalf("the .zst file does not decode to the object: %v", err)
				}
			}
			checkReads(t, s, id, tc.data)
		})
	}
}

// checkReads reads object id every way the store offers and requires data.
func checkReads(t *testing.T, s *Store, id ID, data []byte) {
	t.Helper()
	size := int64(len(data))
	if b, err := s.Get(id, size); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("Get: %d bytes, %v", len(b), err)
	}
	if b, err := s.Get(id, -1); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("Get(-1): %d bytes, %v", len(b), err)
	}
	if err := s.View(id, size, func(b []byte) error {
		if !bytes.Equal(b, data) {
			return errors.New("wrong bytes")
		}
		return nil
	}); err != nil {
		t.Fatalf("View: %v", err)
	}
	into := make([]byte, size)
	if err := s.GetInto(id, into); err != nil || !bytes.Equal(into, data) {
		t.Fatalf("GetInto: %v", err)
	}
	if _, err := s.Get(id, size+1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get with the wrong size: %v, want ErrCorrupt", err)
	}
	r, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != size {
		t.Fatalf("Reader.Size %d, want %d", r.Size(), size)
	}
	b, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("Open+ReadAll: %d bytes, %v", len(b), err)
	}
	f, err := os.CreateTemp(t.TempDir(), "copy")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := s.CopyTo(id, f); err != nil || n != size {
		t.Fatalf("CopyTo: %d, %v", n, err)
	}
	if got := readFile(t, f.Name()); !bytes.Equal(got, data) {
		t.Fatal("CopyTo wrote other bytes")
	}
	if err := s.Verify(id); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if n, err := s.Size(id); err != nil || n != size {
		t.Fatalf("Size: %d, %v", n, err)
	}
	if ok, err := s.Has(id); !ok || err != nil {
		t.Fatalf("Has: %v, %v", ok, err)
	}
	if !s.Known(id) {
		t.Fatal("Known: false")
	}
}

// zstDamages are the ways a compressed object's file goes wrong: each must
// be ErrCorrupt for every read, never a panic, never other bytes.
var zstDamages = map[string]func(frame []byte) []byte{
	"flipped byte in the middle": func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 0x10; return b },
	"flipped last byte":          func(b []byte) []byte { b = bytes.Clone(b); b[len(b)-1] ^= 0x01; return b },
	"truncated":                  func(b []byte) []byte { return b[:len(b)*2/3] },
	"cut to the header":          func(b []byte) []byte { return b[:6] },
	"garbage after the frame":    func(b []byte) []byte { return append(bytes.Clone(b), "trailing"...) },
	"a second frame after":       func(b []byte) []byte { return append(bytes.Clone(b), b...) },
	"empty":                      func([]byte) []byte { return nil },
	"not zstd at all":            func(b []byte) []byte { return bytes.Repeat([]byte("x"), len(b)) },
	"the uncompressed bytes":     nil, // set in the test: the name says compressed, the content is raw
	"header without a size": func([]byte) []byte {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderCRC(false))
		return e.EncodeAll(jsonLike(9, 100<<10), nil) // EncodeAll writes the size; stream one instead below
	},
	"header claiming more": func(b []byte) []byte {
		var h zstd.Header
		h.Decode(b)
		return bytes.Replace(bytes.Clone(b), le(h.FrameContentSize, h.HeaderSize), le(h.FrameContentSize+1, h.HeaderSize), 1)
	},
	"skippable frame": func(b []byte) []byte {
		return append([]byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4}, b...)
	},
}

// le returns v's little-endian bytes (8 at most), for patching a header.
func le(v uint64, _ int) []byte {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	n := 8
	for n > 1 && b[n-1] == 0 {
		n--
	}
	return b[:n]
}

// TestDamagedCompressedObjects zstDamages a compressed object's file in every
// way of zstDamages and requires Get, GetInto, View, Open, CopyTo and Verify
// to fail with ErrCorrupt, and Quarantine to move the file aside so that a
// new Put stores the object again.
func TestDamagedCompressedObjects(t *testing.T) {
	data := jsonLike(10, 300<<10)
	for name, damage := range zstDamages {
		t.Run(name, func(t *testing.T) {
			s, _ := newStore(t)
			ids, err := s.PutBatchCompressed([][]byte{data}, DefaultCompression)
			if err != nil {
				t.Fatal(err)
			}
			id := ids[0]
			path := s.ZstPath(id)
			frame := readFile(t, path)
			bad := data
			if damage != nil {
				bad = damage(frame)
			}
			if name == "header without a size" {
				var buf bytes.Buffer
				e, _ := zstd.NewWriter(&buf, zstd.WithEncoderCRC(false))
				e.Write(data)
				e.Close()
				bad = buf.Bytes()
			}
			rewrite(t, path, bad)
			size := int64(len(data))
			if _, err := s.Get(id, size); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Get: %v, want ErrCorrupt", err)
			}
			if _, err := s.Get(id, -1); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Get(-1): %v, want ErrCorrupt", err)
			}
			if err := s.GetInto(id, make([]byte, size)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("GetInto: %v, want ErrCorrupt", err)
			}
			if err := s.View(id, size, func([]byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
				t.Errorf("View: %v, want ErrCorrupt", err)
			}
			if r, err := s.Open(id); err == nil {
				_, err = io.ReadAll(r)
				r.Close()
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("Open+ReadAll: %v, want ErrCorrupt", err)
				}
			} else if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Open: %v, want ErrCorrupt", err)
			}
			f, _ := os.CreateTemp(t.TempDir(), "copy")
			defer f.Close()
			if _, err := s.CopyTo(id, f); !errors.Is(err, ErrCorrupt) {
				t.Errorf("CopyTo: %v, want ErrCorrupt", err)
			}
			if err := s.Verify(id); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Verify: %v, want ErrCorrupt", err)
			}
			dst, err := s.Quarantine(id)
			if err != nil || !strings.HasSuffix(dst, layout.CompressedExt) {
				t.Fatalf("Quarantine: %q, %v", dst, err)
			}
			if _, err := s.PutBatchCompressed([][]byte{data}, DefaultCompression); err != nil {
				t.Fatal(err)
			}
			checkReads(t, s, id, data)
		})
	}
}

// TestCompressedDedup stores one object raw and compressed in both orders:
// the second put finds the first (one file), reads serve it, and Delete
// removes both forms.
func TestCompressedDedup(t *testing.T) {
	data := jsonLike(11, 200<<10)
	for _, rawFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("raw first %v", rawFirst), func(t *testing.T) {
			s, _ := newStore(t)
			var id ID
			if rawFirst {
				id = mustPut(t, s, data)
				if _, err := s.PutBatchCompressed([][]byte{data}, DefaultCompression); err != nil {
					t.Fatal(err)
				}
			} else {
				if _, err := s.PutBatchCompressed([][]byte{data}, DefaultCompression); err != nil {
					t.Fatal(err)
				}
				id = mustPut(t, s, data)
			}
			_, zerr := os.Lstat(s.ZstPath(id))
			_, rerr := os.Lstat(s.Path(id))
			if (zerr == nil) == (rerr == nil) {
				t.Fatalf("raw file %v, compressed file %v: want exactly one", rerr, zerr)
			}
			checkReads(t, s, id, data)
			// Both forms at once (two caches merged by rsync): readers take
			// the raw one; Delete removes both.
			if rerr != nil {
				os.WriteFile(s.Path(id), data, 0o444)
			} else if _, err := s.putCompressedForTest(id, data); err != nil {
				t.Fatal(err)
			}
			checkReads(t, s, id, data)
			if err := s.Delete(id); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.Has(id); ok {
				t.Fatal("Delete left a form of the object")
			}
		})
	}
}

// putCompressedForTest writes the compressed form of id whatever is stored.
func (s *Store) putCompressedForTest(id ID, data []byte) (string, error) {
	return s.ZstPath(id), s.putCompressed(id, data, DefaultCompression)
}

// TestWalkSeesCompressedObjects: the walk names compressed objects as
// objects (IsCompressedName tells them), not strays.
func TestWalkSeesCompressedObjects(t *testing.T) {
	s, _ := newStore(t)
	ids, err := s.PutBatchCompressed([][]byte{jsonLike(12, 100<<10), testutil.Bytes(12, 100<<10)}, DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	got := map[ID]bool{}
	var strays []string
	err = s.WalkAll(WalkFuncs{
		Object: func(id ID, fi os.FileInfo) error { got[id] = IsCompressedName(fi.Name()); return nil },
		Stray:  func(rel string, _ os.FileInfo) error { strays = append(strays, rel); return nil },
	})
	if err != nil || len(strays) > 0 {
		t.Fatalf("walk: %v, strays %v", err, strays)
	}
	if c, ok := got[ids[0]]; !ok || !c {
		t.Errorf("compressed object: seen %v, compressed %v", ok, c)
	}
	if c, ok := got[ids[1]]; !ok || c {
		t.Errorf("raw object: seen %v, compressed %v", ok, c)
	}
}

// TestPutCompressedExpect stores a compressed download only when it
// decompresses to the object: a cache that compresses keeps the frame a
// compressing store wrote as it is, one that does not stores the object
// raw; a damaged frame, another object's frame, trailing bytes and raw
// bytes store nothing (nor, in a cache that keeps frames, one that does
// not declare its size).
func TestPutCompressedExpect(t *testing.T) {
	data := jsonLike(13, 500<<10)
	src, _ := newStore(t)
	ids, err := src.PutBatchCompressed([][]byte{data, jsonLike(14, 500<<10)}, DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	id, other := ids[0], ids[1]
	frame := readFile(t, src.ZstPath(id))
	var noSize bytes.Buffer
	e, _ := zstd.NewWriter(&noSize)
	e.Write(data)
	e.Close()
	cases := map[string][]byte{
		"good":                 frame,
		"damaged":              zstDamages["flipped byte in the middle"](frame),
		"another object":       readFile(t, src.ZstPath(other)),
		"no declared size":     noSize.Bytes(),
		"trailing bytes":       append(bytes.Clone(frame), 0),
		"the uncompressed one": data,
	}
	for _, keeps := range []bool{true, false} {
		for name, body := range cases {
			t.Run(fmt.Sprintf("%s, cache compresses %v", name, keeps), func(t *testing.T) {
				dst, _ := newStore(t)
				if keeps && !dst.markCompressed() {
					t.Fatal("cannot raise the marker")
				}
				err := dst.PutCompressedExpect(bytesReader(body), id, int64(len(data)))
				// A cache that keeps the frame needs its declared size; one
				// that decompresses it checks the bytes alone.
				if name == "good" || name == "no declared size" && !keeps {
					if err != nil {
						t.Fatal(err)
					}
					if keeps && !bytes.Equal(readFile(t, dst.ZstPath(id)), frame) {
						t.Fatal("the stored file is not the frame downloaded")
					}
					if !keeps && !bytes.Equal(readFile(t, dst.Path(id)), data) {
						t.Fatal("a cache that does not compress did not store the object raw")
					}
					checkReads(t, dst, id, data)
					return
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err %v, want ErrCorrupt", err)
				}
				if ok, _ := dst.Has(id); ok || len(tempEntries(t, dst)) > 0 {
					t.Fatalf("a bad download left the object (%v) or temp files %v", ok, tempEntries(t, dst))
				}
			})
		}
	}
}

// TestCompressionRaisesTheMarker: a store whose cache marker cannot be
// raised stores raw (an older release must never meet a compressed object
// in a cache it thinks it reads); one that can raises it once.
func TestCompressionRaisesTheMarker(t *testing.T) {
	dir := layout.New(filepath.Join(t.TempDir(), "cache"))
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.WriteMarker(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var m map[string]any
	json.Unmarshal(readFile(t, dir.Marker()), &m)
	if m["version"] != float64(layout.MarkerVersion) {
		t.Fatalf("a new cache's marker: %v", m)
	}
	// A marker that cannot be replaced: a directory where the marker's
	// temp file goes would not stop it, so make the root read-only (not
	// for root, whom permissions do not stop).
	if os.Geteuid() != 0 {
		os.Chmod(dir.Root(), 0o555)
		ids, err := s.PutBatchCompressed([][]byte{jsonLike(15, 100<<10)}, DefaultCompression)
		os.Chmod(dir.Root(), 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(s.Path(ids[0])); err != nil {
			t.Fatalf("with the marker unwritable the object is not raw: %v", err)
		}
	}
	ids, err := s.PutBatchCompressed([][]byte{jsonLike(16, 100<<10)}, DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.ZstPath(ids[0])); err != nil {
		t.Fatal(err)
	}
	m = nil
	json.Unmarshal(readFile(t, dir.Marker()), &m)
	if m["version"] != float64(layout.CompressedVersion) || m["compression"] != "zstd" {
		t.Fatalf("marker after a compressed write: %v", m)
	}
	if _, err := dir.CheckMarker(); err != nil {
		t.Fatal(err)
	}
}

// FuzzCompressedObject plants arbitrary bytes as a compressed object's file
// and reads it every way: no panic, no hang, no success unless the bytes
// decode to exactly the object, and then exactly its bytes; a download of
// them (into a plain cache, and into one that keeps frames) is stored only
// when it decompresses to the object. The object is small and the stores
// are made once, so that the fuzzer runs (and minimizes) many inputs a
// second.
func FuzzCompressedObject(f *testing.F) {
	data := jsonLike(17, 6<<10)
	var good bytes.Buffer
	e, _ := zstd.NewWriter(&good, zstd.WithEncoderCRC(false))
	e.ResetContentSize(&good, int64(len(data)))
	e.Write(data)
	e.Close()
	f.Add(good.Bytes())
	for _, d := range zstDamages {
		if d != nil {
			f.Add(d(good.Bytes()))
		}
	}
	id := Sum(data)
	s, _ := newStore(f)
	path := s.ZstPath(id)
	os.MkdirAll(filepath.Dir(path), 0o755)
	plain, _ := newStore(f)
	keeps, _ := newStore(f)
	if !keeps.markCompressed() {
		f.Fatal("cannot raise the marker")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		os.Remove(path)
		if err := os.WriteFile(path, b, 0o444); err != nil {
			t.Fatal(err)
		}
		ok := func(what string, got []byte, err error) {
			if err == nil && !bytes.Equal(got, data) {
				t.Fatalf("%s served other bytes", what)
			}
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: %v, not ErrCorrupt", what, err)
			}
		}
		got, err := s.Get(id, int64(len(data)))
		ok("Get", got, err)
		got, err = s.Get(id, -1)
		ok("Get(-1)", got, err)
		into := make([]byte, len(data))
		err = s.GetInto(id, into)
		ok("GetInto", into, err)
		if r, err := s.Open(id); err == nil {
			got, err = io.ReadAll(r)
			r.Close()
			ok("Open", got, err)
		} else {
			ok("Open", nil, err)
		}
		if err := s.Verify(id); err != nil {
			ok("Verify", nil, err)
		}
		for _, dst := range []*Store{plain, keeps} {
			err = dst.PutCompressedExpect(bytes.NewReader(b), id, int64(len(data)))
			if err == nil {
				got, err := dst.Get(id, int64(len(data)))
				ok("a download's Get", got, err)
				if err := dst.Delete(id); err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("PutCompressedExpect: %v", err)
			}
		}
	})
}
