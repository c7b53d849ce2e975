package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pcache/pcache/internal/fsutil"
)

// fileBackend keeps blobs as files under a directory (a shared mount):
// key a/b/c is the file a/b/c. A put writes a temp file beside the target
// and then links it into place (create-only: link(2) fails if the name
// exists, atomically, also over NFS) or renames it (replace).
type fileBackend struct{ root string }

// NewFileBackend returns a backend keeping blobs under dir, created if
// needed.
func NewFileBackend(dir string) (Backend, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("remote: %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o777); err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	return &fileBackend{root: abs}, nil
}

func (f *fileBackend) String() string { return "file://" + f.root }

// path maps a key to its file, refusing keys that would leave the root.
func (f *fileBackend) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("remote: bad key %q", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, ".tmp-") {
			return "", fmt.Errorf("remote: bad key %q", key)
		}
	}
	// No directory on the way may be a symbolic link: a shared directory
	// is writable by others, and a link there (fn/ -> /home/victim) would
	// make puts and gc's deletes reach outside it. (Checked, then used: a
	// writer racing to swap a directory for a link between the two is
	// not covered.)
	dir := f.root
	segs := strings.Split(key, "/")
	for _, seg := range segs[:len(segs)-1] {
		dir = filepath.Join(dir, seg)
		fi, err := os.Lstat(dir)
		if err != nil {
			break // created by a put; absent for a get
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("remote: key %q: %s is a %s, not a directory of the remote", key, dir, fsutil.Kind(fi.Mode()))
		}
	}
	return filepath.Join(f.root, filepath.FromSlash(key)), nil
}

// fileBody is an open blob, whose size getAll can check before reading.
type fileBody struct {
	*os.File
	size int64
}

func (b fileBody) Size() int64 { return b.size }

func notExist(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotExist, key)
	}
	return fmt.Errorf("remote: %s: %w", key, err)
}

func (f *fileBackend) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	// Not a link (to /dev/zero, or out of the remote), not a fifo that
	// never answers: a regular file, checked on the descriptor.
	r, fi, err := openRegular(p, 1<<62)
	if err != nil {
		return nil, notExist(key, err)
	}
	return fileBody{r, fi.Size()}, nil
}

func (f *fileBackend) Put(ctx context.Context, key string, r io.Reader, size int64, createOnly bool) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("remote: put %s: %w", key, err)
	}
	tmp, err := fsutil.CreateTemp(dir, ".tmp-", 0o644)
	if err != nil {
		return fmt.Errorf("remote: put %s: %w", key, err)
	}
	defer os.Remove(tmp.Name()) // after a link, or a failure
	n, err := io.Copy(tmp, r)
	if err == nil && n != size {
		err = fmt.Errorf("%d bytes, want %d", n, size)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("remote: put %s: %w", key, err)
	}
	if createOnly {
		if err := os.Link(tmp.Name(), p); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w: %s", ErrExists, key)
			}
			return fmt.Errorf("remote: put %s: %w", key, err)
		}
		return nil
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("remote: put %s: %w", key, err)
	}
	return nil
}

func (f *fileBackend) Head(ctx context.Context, key string) (int64, time.Time, error) {
	p, err := f.path(key)
	if err != nil {
		return 0, time.Time{}, err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return 0, time.Time{}, notExist(key, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, time.Time{}, fmt.Errorf("remote: %s: a %s, not a blob", key, fsutil.Kind(fi.Mode()))
	}
	return fi.Size(), fi.ModTime(), nil
}

func (f *fileBackend) List(ctx context.Context, prefix string, fn func(string, int64, time.Time) error) error {
	base := f.root
	var keys []string
	infos := map[string]fs.FileInfo{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") || !d.Type().IsRegular() {
			return nil // links, fifos and the like are not blobs
		}
		if len(keys) >= MaxListKeys {
			return ErrTooManyKeys
		}
		rel, _ := filepath.Rel(base, p)
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		keys = append(keys, key)
		infos[key] = info
		return nil
	})
	if err != nil {
		return fmt.Errorf("remote: list %s: %w", prefix, err)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(k, infos[k].Size(), infos[k].ModTime()); err != nil {
			return err
		}
	}
	return nil
}

func (f *fileBackend) Delete(ctx context.Context, key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remote: delete %s: %w", key, err)
	}
	return nil
}
