package cas

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/testutil"
)

// Packs from elsewhere (rsync, a hostile directory) are read without trust:
// whatever their files hold, a reader never panics, hangs, follows a link,
// or returns bytes that do not hash to the ID asked for.
func TestHostilePacks(t *testing.T) {
	t.Parallel()
	good := small(1)
	goodID := Sum(good)
	outside := filepath.Join(t.TempDir(), "outside.pcp")
	os.WriteFile(outside, append(append([]byte(nil), packMagic[:]...), appendRecord(nil, goodID, good)...), 0o644)
	forgedIdx := func(count uint64, off uint64, size uint32) []byte {
		b := append([]byte(nil), idxMagic[:]...)
		b = binary.BigEndian.AppendUint64(b, 1<<20)
		b = append(b, make([]byte, 32)...)
		b = binary.BigEndian.AppendUint64(b, count)
		b = append(b, goodID[:]...)
		b = binary.BigEndian.AppendUint64(b, off)
		b = binary.BigEndian.AppendUint32(b, size)
		sum := Sum(b)
		return append(b, sum[:]...)
	}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, packDir string)
	}{
		{"pack is a symlink to a file outside", func(t *testing.T, d string) {
			must(t, os.Symlink(outside, filepath.Join(d, "x.pcp")))
		}},
		{"pack is a fifo", func(t *testing.T, d string) {
			if err := testutil.Mkfifo(filepath.Join(d, "x.pcp")); err != nil {
				t.Skip("no fifos:", err)
			}
		}},
		{"pack is a directory", func(t *testing.T, d string) {
			must(t, os.Mkdir(filepath.Join(d, "x.pcp"), 0o755))
		}},
		{"record claims 4 GiB", func(t *testing.T, d string) {
			rec := appendRecord(nil, goodID, good)
			binary.LittleEndian.PutUint32(rec[33:], 0xffffffff)
			must(t, os.WriteFile(filepath.Join(d, "x.pcp"), append(append([]byte(nil), packMagic[:]...), rec...), 0o644))
		}},
		{"record with the ID but other bytes", func(t *testing.T, d string) {
			bad := bytes.Repeat([]byte("z"), len(good))
			must(t, os.WriteFile(filepath.Join(d, "x.pcp"), append(append([]byte(nil), packMagic[:]...), appendRecord(nil, goodID, bad)...), 0o644))
		}},
		{"index points past the end", func(t *testing.T, d string) {
			must(t, os.WriteFile(filepath.Join(d, "x.pcp"), packMagic[:], 0o644))
			must(t, os.WriteFile(filepath.Join(d, "x.pci"), forgedIdx(1, 1<<40, 10), 0o644))
		}},
		{"index claims 2^60 entries", func(t *testing.T, d string) {
			must(t, os.WriteFile(filepath.Join(d, "x.pcp"), packMagic[:], 0o644))
			must(t, os.WriteFile(filepath.Join(d, "x.pci"), forgedIdx(1<<60, 16, 10), 0o644))
		}},
		{"newer pack format", func(t *testing.T, d string) {
			h := packMagic
			h[headerSize-1] = packVersion + 1
			must(t, os.WriteFile(filepath.Join(d, "x.pcp"), append(h[:], appendRecord(nil, goodID, good)...), 0o644))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d := layout.New(dir)
			must(t, os.MkdirAll(d.Packs(), 0o755))
			tc.plant(t, d.Packs())
			s, err := Open(d, Options{})
			must(t, err)
			defer s.Close()
			if b, err := s.Get(goodID, -1); err == nil {
				t.Fatalf("served %q from a hostile pack", b)
			} else if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get: %v", err)
			}
			// Storing the object works and then serves it.
			if _, err := s.Put(good); err != nil {
				t.Fatal(err)
			}
			if b, err := s.Get(goodID, -1); err != nil || !bytes.Equal(b, good) {
				t.Fatalf("after Put: %q, %v", b, err)
			}
			infos, err := s.ListPacks(nil)
			must(t, err)
			for _, pi := range infos {
				if pi.Name == "x.pcp" && pi.Problem == "" && len(pi.Objects) > 0 {
					if bad, _ := s.VerifyPack(pi, nil); len(bad) == 0 {
						t.Errorf("ListPacks/VerifyPack see nothing wrong with the planted pack: %+v", pi)
					}
				}
			}
			if data, _ := os.ReadFile(outside); !bytes.HasPrefix(data, packMagic[:]) {
				t.Fatal("the file outside was changed")
			}
		})
	}
}
