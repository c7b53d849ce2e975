package maintain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
)

// objFile is one object found on disk: a loose file, or a record in a pack.
type objFile struct {
	ID      cas.ID
	Path    string // absolute (of the pack, for a packed object)
	Size    int64
	ModTime time.Time   // of the file (the pack's, for a packed object)
	Mode    fs.FileMode // from Lstat: anything but a regular file is corrupt
	Pack    string      // the pack's name, or "" for a loose object
	// Compressed marks a loose object stored compressed (Path is its .zst
	// file): Size is then the file's size, Content what it decompresses
	// to (its frame header's claim; -1 when the header does not read).
	Compressed bool
	Content    int64 // the object's own size: Size, but for a compressed object
}

// rel names the object for reports.
func (o objFile) rel(d layout.Dir) string {
	if o.Pack != "" {
		return d.Rel(o.Path) + " (object " + o.ID.String()[:16] + ")"
	}
	if o.Compressed {
		return layout.CompressedObjectRel(o.ID)
	}
	return layout.ObjectRel(o.ID)
}

// objects lists every object: the loose ones, then those of every pack
// (one entry per ID: duplicates are counted, not listed), with the packs and
// what is in the object directories that is not an object.
func (c *Cache) objects() (objs []objFile, packs []cas.PackInfo, strays []looseFile, dups int, err error) {
	objs, packs, strays, dups, _, err = c.objectsAndCopies()
	return objs, packs, strays, dups, err
}

// packedCopy is a packed copy of an object that is also stored loose.
type packedCopy struct {
	Pack   string
	Object cas.PackedObject
}

// objectsAndCopies is objects, also returning the packed copies of loose
// objects (caches that stored the same result loose and packed, merged by
// rsync): gc deletes the loose copy once the packed one verifies.
func (c *Cache) objectsAndCopies() (objs []objFile, packs []cas.PackInfo, strays []looseFile, dups int, looseDups []packedCopy, err error) {
	objs, strays, err = c.scanObjects()
	if err != nil {
		return nil, nil, nil, 0, nil, err
	}
	packs, err = c.store.ListPacks(func(rel string, info fs.FileInfo) {
		strays = append(strays, looseFile{Path: filepath.Join(c.d.Root(), filepath.FromSlash(rel)), Size: info.Size(), ModTime: info.ModTime(), IsDir: info.IsDir()})
	})
	if err != nil {
		return nil, nil, nil, 0, nil, fmt.Errorf("scan packs: %w", err)
	}
	// A retired pack (merged into another, kept for a while so a sync in
	// progress sees nothing vanish) holds copies of objects stored
	// elsewhere: it is neither checked nor counted, and goes by itself.
	packs = slices.DeleteFunc(packs, func(pi cas.PackInfo) bool { return pi.Retired })
	seen := make(map[cas.ID]bool, len(objs))
	loose := make(map[cas.ID]bool, len(objs))
	for _, o := range objs {
		seen[o.ID] = true
		loose[o.ID] = true
	}
	for _, pi := range packs {
		for _, po := range pi.Objects {
			if seen[po.ID] {
				dups++
				if loose[po.ID] && !pi.Broken {
					looseDups = append(looseDups, packedCopy{pi.Name, po})
					delete(loose, po.ID) // one packed copy is enough
				}
				continue
			}
			seen[po.ID] = true
			objs = append(objs, objFile{ID: po.ID, Path: pi.Path, Size: po.Size, Content: po.Size, ModTime: pi.ModTime, Mode: 0o444, Pack: pi.Name})
		}
	}
	return objs, packs, strays, dups, looseDups, nil
}

// looseFile is a file that is not an object: a stray in objects/, a temp
// file in tmp/, or a quarantined file in lost+found/.
type looseFile struct {
	Path    string // absolute
	Size    int64
	ModTime time.Time
	IsDir   bool
}

// scanObjects lists the loose objects through the store's walk: every entry
// with an object's name and, separately, everything else found there. A
// missing objects directory is empty.
func (c *Cache) scanObjects() (objs []objFile, strays []looseFile, err error) {
	if _, err := os.Stat(c.d.Objects()); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	store := c.store
	err = store.WalkAll(cas.WalkFuncs{
		Object: func(id cas.ID, info fs.FileInfo) error {
			o := objFile{ID: id, Path: store.Path(id), Size: info.Size(), Content: info.Size(),
				ModTime: info.ModTime(), Mode: info.Mode()}
			if cas.IsCompressedName(info.Name()) {
				o.Path, o.Compressed, o.Content = store.ZstPath(id), true, -1
				if info.Mode().IsRegular() {
					if n, err := store.CompressedSize(id); err == nil {
						o.Content = n
					}
				}
			}
			objs = append(objs, o)
			return nil
		},
		Stray: func(rel string, info fs.FileInfo) error {
			strays = append(strays, looseFile{Path: filepath.Join(c.d.Root(), filepath.FromSlash(rel)),
				Size: info.Size(), ModTime: info.ModTime(), IsDir: info.IsDir()})
			return nil
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("scan objects: %w", err)
	}
	return objs, strays, nil
}

func looseOf(p string, d fs.DirEntry) looseFile {
	lf := looseFile{Path: p, IsDir: d.IsDir()}
	if info, err := d.Info(); err == nil {
		lf.Size, lf.ModTime = info.Size(), info.ModTime()
	}
	return lf
}

// scanFlat lists the entries of one directory of the cache (tmp or
// lost+found), sorted by name. A missing directory is empty.
func scanFlat(root string) ([]looseFile, error) {
	des, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", root, err)
	}
	out := make([]looseFile, 0, len(des))
	for _, d := range des {
		out = append(out, looseOf(filepath.Join(root, d.Name()), d))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// hashResult is what hashing one object found.
type hashResult struct {
	Got  cas.ID
	N    int64
	Err  error // read error; fs.ErrNotExist when the object vanished meanwhile
	Done bool
	// Detail says why a compressed object does not decode (Got is then
	// not its hash).
	Detail string
}

// hashBufSize is the read size per worker: large enough that the syscall
// count is negligible, small enough that the buffer stays in the core's L2
// cache between read(2) writing it and BLAKE3 reading it (measured: 256 KiB
// costs about 10% less CPU per byte than 4 MiB).
const hashBufSize = 256 << 10

// hashObjects hashes every object on workers goroutines (one per core when
// workers <= 0) and returns one result per object, in order. It reports the
// bytes read to c.
func hashObjects(ctx context.Context, objs []objFile, workers int, c Counter) []hashResult {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	res := make([]hashResult, len(objs))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, hashBufSize)
			for i := range jobs {
				if !objs[i].Mode.IsRegular() || objs[i].Pack != "" {
					continue // never follow a link or read a device; check reports it
				}
				res[i] = hashObject(objs[i], buf, c)
			}
		}()
	}
	// Biggest first, so one huge object does not start last and run alone.
	order := make([]int, len(objs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return objs[order[a]].Size > objs[order[b]].Size })
feed:
	for _, i := range order {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return res
}

// hashObject hashes loose object o: a raw file's bytes, or what a
// compressed one decompresses to (a frame that does not decode is a
// result with Detail, never an error: it is damage, not a failure to read).
func hashObject(o objFile, buf []byte, c Counter) hashResult {
	if !o.Compressed {
		got, n, err := hashFile(o.Path, buf, c)
		return hashResult{Got: got, N: n, Err: err, Done: true}
	}
	f, err := os.Open(o.Path)
	if err != nil {
		return hashResult{Err: err, Done: true}
	}
	defer f.Close()
	if o.Content < 0 {
		return hashResult{Detail: "its zstd frame header does not read (or declares no size)", Done: true}
	}
	_, got, err := cas.HashCompressed(o.ID, o.Path, f, o.Content)
	c.Add(o.Size)
	var ce *cas.CorruptError
	if errors.As(err, &ce) {
		return hashResult{N: o.Size, Detail: ce.Reason, Done: true}
	}
	return hashResult{Got: got, N: o.Size, Err: err, Done: true}
}

// hashFile returns the BLAKE3-256 of the file at path and its length.
func hashFile(path string, buf []byte, c Counter) (cas.ID, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return cas.ID{}, 0, err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil {
		return cas.ID{}, 0, err
	} else if !info.Mode().IsRegular() {
		return cas.ID{}, 0, fmt.Errorf("%s: not a regular file", path)
	}
	h := blake3.New()
	var n int64
	for {
		k, err := f.Read(buf)
		if k > 0 {
			h.Write(buf[:k])
			n += int64(k)
			c.Add(int64(k))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return cas.ID{}, n, err
		}
	}
	var id cas.ID
	copy(id[:], h.Sum(nil))
	return id, n, nil
}
