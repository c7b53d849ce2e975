package outfile

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The benchmarks move a 256 MiB file; b.SetBytes makes them report MB/s.
// Compare them with the floors: what a plain copy of the same file costs.
const benchSize = 256 << 20

func benchFile(b *testing.B) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "src")
	writeBig(b, p, benchSize)
	return p
}

// BenchmarkCapture256M stores a 256 MiB out file the store does not hold yet:
// read, hash, write into the store, rename.
func BenchmarkCapture256M(b *testing.B) {
	st := newStore(b)
	src := benchFile(b)
	b.SetBytes(benchSize)
	for b.Loop() {
		rec := mustCapture(b, st, "Out", src)
		b.StopTimer()
		if err := st.Delete(rec.Object); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkRestore256M writes a 256 MiB out file to a new path: verified
// copy from the store into a temp file, chmod, rename.
func BenchmarkRestore256M(b *testing.B) {
	st := newStore(b)
	rec := mustCapture(b, st, "Out", benchFile(b))
	dst := filepath.Join(b.TempDir(), "dst")
	b.SetBytes(benchSize)
	for b.Loop() {
		mustRestore(b, st, rec, dst)
		b.StopTimer()
		os.Remove(dst)
		b.StartTimer()
	}
}

// BenchmarkRestoreVerify256M finds a 256 MiB file already in place but not
// recorded with a trusted time: it is hashed, not rewritten.
func BenchmarkRestoreVerify256M(b *testing.B) {
	st := newStore(b)
	src := benchFile(b)
	rec := mustCapture(b, st, "Out", src)
	rec.Paths[0].MtimeNs = 0
	b.SetBytes(benchSize)
	for b.Loop() {
		mustRestore(b, st, rec, src)
	}
}

// BenchmarkRestoreUnchanged256M finds a 256 MiB file in place with its
// recorded size and time: one stat (and one for the object), no reading;
// it reports ns/op only.
func BenchmarkRestoreUnchanged256M(b *testing.B) {
	st := newStore(b)
	src := benchFile(b)
	rec := mustCapture(b, st, "Out", src)
	for b.Loop() {
		mustRestore(b, st, rec, src)
	}
}

// BenchmarkFloorIOCopy256M is the floor: io.Copy of the file to a new file
// (copy_file_range on Linux, so no bytes pass through user space).
func BenchmarkFloorIOCopy256M(b *testing.B) {
	benchFloor(b, func(dst, src *os.File) error {
		_, err := io.Copy(dst, src)
		return err
	})
}

// BenchmarkFloorBufferCopy256M copies through a 1 MiB user-space buffer
// without hashing: the floor for any copy that must see the bytes.
func BenchmarkFloorBufferCopy256M(b *testing.B) {
	buf := make([]byte, bufSize)
	benchFloor(b, func(dst, src *os.File) error {
		_, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf)
		return err
	})
}

func benchFloor(b *testing.B, copyFile func(dst, src *os.File) error) {
	src := benchFile(b)
	dst := filepath.Join(b.TempDir(), "dst")
	b.SetBytes(benchSize)
	for b.Loop() {
		in, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(dst)
		if err != nil {
			b.Fatal(err)
		}
		if err := copyFile(out, in); err != nil {
			b.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(dst)
		b.StartTimer()
	}
}
