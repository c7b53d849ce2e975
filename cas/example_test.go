package cas_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/pcache/pcache/cas"
)

func Example() {
	dir, err := os.MkdirTemp("", "cas-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := cas.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	id, err := s.Put([]byte("hello, objects"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id == cas.Sum([]byte("hello, objects")))

	// Any Store on the directory, in this process or another, reads it.
	other, err := cas.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer other.Close()
	b, err := other.Get(id)
	fmt.Printf("%s %v\n", b, err)

	_, err = other.Get(cas.Sum([]byte("never stored")))
	fmt.Println(errors.Is(err, cas.ErrNotFound))
	// Output:
	// true
	// hello, objects <nil>
	// true
}
