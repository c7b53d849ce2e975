// Command quickstart wraps a deliberately slow function with pcache, calls it
// twice and prints how long each call took and where the cache lives.
//
//	go run ./examples/quickstart
//
// Run it again: the first call is served from the cache too, because the
// cache is permanent (it lives in $PCACHE_DIR, else your user cache dir).
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/pcache/pcache"
)

// Args are the arguments of the slow function; every exported field is part
// of the cache key, except those tagged `pcache:"-"`.
type Args struct {
	N       int
	Verbose bool `pcache:"-"` // does not change the result: not part of the key
}

// slowSquare stands for any expensive, repeatable computation.
func slowSquare(ctx context.Context, a Args) (int, error) {
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return a.N * a.N, nil
}

func main() {
	store, err := pcache.Open("") // the default cache directory
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	square, err := pcache.Wrap(store, "examples/quickstart/slowSquare", slowSquare, pcache.Version("1"))
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	for i, args := range []Args{{N: 12}, {N: 12, Verbose: true}} {
		start := time.Now()
		v, err := square.Call(ctx, args)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("call %d: square(%d) = %d in %v\n", i+1, args.N, v, time.Since(start).Round(time.Microsecond))
	}
	st := square.Stats()
	fmt.Printf("hits: %d, computed: %d\n", st.Hits, st.Computes)
	fmt.Printf("cache directory: %s\n", store.Dir())
}
