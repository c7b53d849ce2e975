package manifest_test

import (
	"fmt"
	"log"
	"os"

	"github.com/pcache/pcache/cas"
	"github.com/pcache/pcache/keying"
	"github.com/pcache/pcache/manifest"
	"github.com/zeebo/blake3"
)

func Example() {
	dir, err := os.MkdirTemp("", "manifest-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The caller keys the call and stores the result object first; the
	// manifest maps one to the other.
	objects, err := cas.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer objects.Close()
	key, _ := keying.Encode(map[string]int{"x": 12})
	result, err := objects.Put([]byte("144"))
	if err != nil {
		log.Fatal(err)
	}

	m, err := manifest.Open(dir, "example/square/v1")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	err = m.Append(manifest.Entry{KeyHash: blake3.Sum256(key), Key: key, Result: result, Size: 3})
	if err != nil {
		log.Fatal(err)
	}

	// Any Manifest of the name, in this process or another, finds it.
	other, err := manifest.Open(dir, "example/square/v1")
	if err != nil {
		log.Fatal(err)
	}
	defer other.Close()
	e, ok, err := other.Lookup(blake3.Sum256(key))
	if err != nil || !ok {
		log.Fatal(ok, err)
	}
	b, _ := objects.Get(cas.ID(e.Result))
	fmt.Println(string(b))

	names, _ := manifest.List(dir)
	fmt.Println(names)
	// Output:
	// 144
	// [example/square/v1]
}
