// Command quickstart caches a deliberately slow function with one line of
// pcache, calls it twice and prints how long each call took and where the
// cache lives.
//
//	go run ./examples/quickstart
//
// Run it again: the first call is served from the cache too, because the
// cache is permanent (it lives in $PCACHE_DIR, else your user cache dir).
package main

import (
	"fmt"
	"log"
	"time"

	"github.com/pcache/pcache"
)

// slowSquare stands for any expensive, repeatable computation.
func slowSquare(n int) int {
	time.Sleep(2 * time.Second)
	return n * n
}

// square is slowSquare, cached: same type, same results, computed once ever
// per argument. The name is where its entries live; keep it stable.
var square = pcache.Memo("examples/quickstart/slowSquare", slowSquare)

func main() {
	defer pcache.Close() // optional; flushes the remote tier if you use one

	for i := range 2 {
		start := time.Now()
		v := square(12)
		fmt.Printf("call %d: square(12) = %d in %v\n", i+1, v, time.Since(start).Round(time.Microsecond))
	}
	store, err := pcache.Default()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("cache directory: %s\n", store.Dir())
	if st := store.Stats(); st.StoreErrors > 0 {
		// Never claim what did not happen: the log above says why.
		fmt.Printf("%d result(s) could not be stored: the next run computes again\n", st.StoreErrors)
		return
	}
	fmt.Println("run me again: both calls are served from the cache")
}
