package manifest_test

import (
	"fmt"
	"log"
	"os"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
)

func ExampleManifest() {
	root, err := os.MkdirTemp("", "pcache-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	m, err := manifest.Open(layout.New(root), "example/square/v1", manifest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// The caller hashes the canonical key and stores the result object
	// first; the manifest maps one to the other.
	key := []byte(`{"x":12}`)
	result := []byte("144")
	err = m.Append(manifest.Entry{
		KeyHash: blake3.Sum256(key),
		Key:     key,
		Result:  cas.Sum(result),
		Size:    int64(len(result)),
	})
	if err != nil {
		log.Fatal(err)
	}

	// Any Manifest on the same directory, in this process or another,
	// finds it.
	other, err := manifest.Open(layout.New(root), "example/square/v1", manifest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer other.Close()
	e, ok, err := other.Lookup(blake3.Sum256(key))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ok, string(e.Key), e.Result == cas.Sum(result), e.Size)

	names, _ := manifest.List(layout.New(root))
	fmt.Println(names)
	// Output:
	// true {"x":12} true 3
	// [example/square/v1]
}
