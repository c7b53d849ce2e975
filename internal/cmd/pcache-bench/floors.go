package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/zeebo/blake3"
)

// The floors: what the work a scenario does costs without pcache, measured
// by the same probes in the same run.

// smallPayload is about the size of a small encoded result.
var smallPayload = []byte("result for k, about the size of a small cached value")

// readSmall is the small-file floor: open(2), one read(2), close(2), the
// least any read of a file can do. (os.ReadFile adds an fstat, a read that
// finds EOF and a poller registration attempt: about a third more.)
func readSmall(p string, buf []byte) error {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	n, err := syscall.Read(fd, buf)
	syscall.Close(fd)
	if err != nil || n != len(smallPayload) {
		return fmt.Errorf("read %s: %d bytes, %v", p, n, err)
	}
	return nil
}

// floorSmallRead returns a probe of one open+read+close of a small file.
func (b *bench) floorSmallRead(ctx context.Context, dir string) (probe, error) {
	p := filepath.Join(dir, "floor-small")
	if err := os.WriteFile(p, smallPayload, 0o644); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	return func() (float64, error) {
		return perOp(ctx, b.cfg.probe, func(int) error { return readSmall(p, buf) })
	}, nil
}

// floorSmallReadParallel is floorSmallRead on g goroutines (aggregate).
func (b *bench) floorSmallReadParallel(ctx context.Context, dir string, g int) (probe, error) {
	p := filepath.Join(dir, "floor-small")
	if err := os.WriteFile(p, smallPayload, 0o644); err != nil {
		return nil, err
	}
	bufs := make([][]byte, g)
	for i := range bufs {
		bufs[i] = make([]byte, 4096)
	}
	return func() (float64, error) {
		return parallelPerOp(ctx, g, b.cfg.probe, func(w, _ int) error { return readSmall(p, bufs[w]) })
	}, nil
}

// floorSmallWrite returns a probe of one small-file write to a temp name and
// a rename to a new name (open, write, close, rename: no fsync, as pcache's
// default), what storing a small object must at least do.
func (b *bench) floorSmallWrite(ctx context.Context, dir string) (probe, error) {
	d := filepath.Join(dir, "floor-writes")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, err
	}
	n := 0
	tmp := filepath.Join(d, "tmp")
	return func() (float64, error) {
		return perOp(ctx, b.cfg.probe, func(int) error {
			n++
			fd, err := syscall.Open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o644)
			if err != nil {
				return &os.PathError{Op: "open", Path: tmp, Err: err}
			}
			w, err := syscall.Write(fd, smallPayload)
			if cerr := syscall.Close(fd); err == nil {
				err = cerr
			}
			if err != nil || w != len(smallPayload) {
				return fmt.Errorf("write %s: %d bytes, %v", tmp, w, err)
			}
			return syscall.Rename(tmp, filepath.Join(d, strconv.Itoa(n)))
		})
	}, nil
}

// floorWriteBig returns a probe of raw BLAKE3 of data plus a plain write of
// it to a new file: the floor of storing a big result.
func floorWriteBig(dir string, data []byte) probe {
	p := filepath.Join(dir, "floor-big-write")
	return func() (float64, error) {
		os.Remove(p)
		ns, err := timed(func() error {
			blake3.Sum256(data)
			return os.WriteFile(p, data, 0o644)
		})
		os.Remove(p)
		return ns, err
	}
}

// floorReadBig returns a probe of a plain read of a file of len(data) bytes
// plus raw BLAKE3 of what was read: the floor of a verified big hit.
func floorReadBig(dir string, data []byte) (probe, error) {
	p := filepath.Join(dir, "floor-big-read")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return nil, err
	}
	return func() (float64, error) {
		return timed(func() error {
			d, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			blake3.Sum256(d)
			return nil
		})
	}, nil
}

// floorBlake3 returns a probe of raw BLAKE3 (one core) over data.
func floorBlake3(data []byte) probe {
	return func() (float64, error) {
		return timed(func() error {
			blake3.Sum256(data)
			return nil
		})
	}
}

// floorHashedCopy returns a probe of a copy of src to a new file through a
// 1 MiB buffer, hashing every byte with BLAKE3: the floor of any copy that
// must verify what it moves (out-file capture and restore).
func floorHashedCopy(dir, src string) probe {
	dst := filepath.Join(dir, "floor-copy")
	buf := make([]byte, 1<<20)
	return func() (float64, error) {
		os.Remove(dst)
		ns, err := timed(func() error {
			in, err := os.Open(src)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := os.Create(dst)
			if err != nil {
				return err
			}
			h := blake3.New()
			if _, err := io.CopyBuffer(struct{ io.Writer }{io.MultiWriter(out, h)}, struct{ io.Reader }{in}, buf); err != nil {
				out.Close()
				return err
			}
			h.Sum(nil)
			return out.Close()
		})
		os.Remove(dst)
		return ns, err
	}
}
