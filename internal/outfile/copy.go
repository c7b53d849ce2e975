package outfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pcache/pcache/internal/fsutil"
)

// Copy copies file from to path to atomically (a temp file beside to,
// then a rename), keeping from's permission bits; a directory is copied
// whole (its regular files and directories) and put in to's place at
// once.
func Copy(from, to string) error {
	if fi, err := os.Stat(from); err == nil && fi.IsDir() {
		return copyTree(from, to)
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o777); err != nil {
		return err
	}
	tmp, err := fsutil.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".", fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	return fsutil.Commit(tmp, to, false)
}

// copyTree copies the directory from to to: built in a temp directory
// beside to, then swapped in.
func copyTree(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o777); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(to), tempPrefix(to))
	if err != nil {
		return err
	}
	err = filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, rel)
		switch {
		case d.IsDir():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return os.MkdirAll(dst, fi.Mode().Perm()|0o700)
		case d.Type().IsRegular():
			return Copy(p, dst)
		}
		return fmt.Errorf("%s is a %s, which a cached directory cannot hold", p, fsutil.Kind(d.Type()))
	})
	if err == nil {
		err = swapDir(tmp, to)
	}
	if err != nil {
		os.RemoveAll(tmp)
	}
	return err
}
