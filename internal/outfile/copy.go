package outfile

import (
	"io"
	"os"
	"path/filepath"

	"github.com/pcache/pcache/internal/fsutil"
)

// Copy copies file from to path to atomically (a temp file beside to,
// then a rename), keeping from's permission bits.
func Copy(from, to string) error {
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
