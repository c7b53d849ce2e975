package cas_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
)

// exampleDir is the cache directory of the last exampleStore.
var exampleDir string

// exampleStore opens a store in a fresh temp directory.
func exampleStore() (*cas.Store, func()) {
	dir, err := os.MkdirTemp("", "cas-example-")
	exampleDir = dir
	if err != nil {
		log.Fatal(err)
	}
	s, err := cas.Open(layout.New(dir), cas.Options{PackLimit: -1}) // loose files, shown by path
	if err != nil {
		log.Fatal(err)
	}
	return s, func() { os.RemoveAll(dir) }
}

func ExampleStore_Put() {
	s, cleanup := exampleStore()
	defer cleanup()

	id, err := s.Put([]byte("hello, world\n"))
	if err != nil {
		log.Fatal(err)
	}
	// The ID is what `b3sum` prints for the same bytes, and names the file.
	fmt.Println(id)
	rel, _ := filepath.Rel(exampleDir, s.Path(id))
	fmt.Println(filepath.ToSlash(rel))
	// Output:
	// 623a5460d841b6d1c13d080e85500e0043fd4ba4a8ba9c1aa9b4f6e0d212276c
	// objects/62/3a5460d841b6d1c13d080e85500e0043fd4ba4a8ba9c1aa9b4f6e0d212276c
}

func ExampleStore_Get() {
	s, cleanup := exampleStore()
	defer cleanup()

	id, _ := s.Put([]byte("result bytes"))
	b, err := s.Get(id, -1)
	fmt.Printf("%q %v\n", b, err)

	// A missing or damaged object is an error the caller treats as a miss.
	_, err = s.Get(cas.Sum([]byte("never stored")), -1)
	fmt.Println(errors.Is(err, cas.ErrNotFound))
	// Output:
	// "result bytes" <nil>
	// true
}

// Corruption is detected on read; quarantining the bad file and putting the
// bytes again repairs the store.
func ExampleStore_Quarantine() {
	s, cleanup := exampleStore()
	defer cleanup()

	good := []byte("precious")
	id, _ := s.Put(good)
	os.Chmod(s.Path(id), 0o644)
	os.WriteFile(s.Path(id), []byte("pre-ious"), 0o644) // bit rot

	_, err := s.Get(id, -1)
	fmt.Println(errors.Is(err, cas.ErrCorrupt))
	if _, err := s.Quarantine(id); err != nil { // moved to lost+found, not deleted
		log.Fatal(err)
	}
	s.Put(good)
	b, err := s.Get(id, -1)
	fmt.Printf("%s %v\n", b, err)
	// Output:
	// true
	// precious <nil>
}

func ExampleStore_PutReader() {
	s, cleanup := exampleStore()
	defer cleanup()

	// Streams of any length are stored in bounded memory.
	id, n, err := s.PutReader(strings.NewReader(strings.Repeat("x", 1<<20)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, id == cas.Sum([]byte(strings.Repeat("x", 1<<20))))
	// Output: 1048576 true
}

func ExampleStore_Open() {
	s, cleanup := exampleStore()
	defer cleanup()

	id, _ := s.Put([]byte("streamed back"))
	r, err := s.Open(id)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	// The Reader verifies as it goes: reading to the end succeeds only if
	// the bytes hash to id.
	b, err := io.ReadAll(r)
	fmt.Printf("%s %v\n", b, err)
	// Output: streamed back <nil>
}

// CopyTo restores an object into a file (out-file restore): copy into a temp
// file and rename it into place only if the copy verified.
func ExampleStore_CopyTo() {
	s, cleanup := exampleStore()
	defer cleanup()

	id, _ := s.Put([]byte("file contents\n"))
	dir, _ := os.MkdirTemp("", "cas-example-out-")
	defer os.RemoveAll(dir)
	tmp, _ := os.CreateTemp(dir, "out-*.tmp")
	if _, err := s.CopyTo(id, tmp); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		log.Fatal(err)
	}
	tmp.Close()
	dst := filepath.Join(dir, "out.txt")
	os.Rename(tmp.Name(), dst)
	b, _ := os.ReadFile(dst)
	fmt.Print(string(b))
	// Output: file contents
}

// WalkAll lets a checker list every object, in ID order, and report anything
// else found under objects/.
func ExampleStore_WalkAll() {
	s, cleanup := exampleStore()
	defer cleanup()

	s.Put([]byte("one"))
	s.Put([]byte("two"))
	os.WriteFile(filepath.Join(exampleDir, "objects", "notes.txt"), nil, 0o644)

	err := s.WalkAll(cas.WalkFuncs{
		Object: func(id cas.ID, info fs.FileInfo) error {
			fmt.Println("object", id.String()[:8], info.Size())
			return s.Verify(id)
		},
		Stray: func(rel string, info fs.FileInfo) error {
			fmt.Println("stray file", rel)
			return nil
		},
	})
	fmt.Println(err)
	// Output:
	// object d33fb48a 3
	// object dc770fff 3
	// stray file objects/notes.txt
	// <nil>
}
