package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pcache/pcache/internal/gclock"
)

// lockWaitNotice is how long a command waits for the gc lock before saying
// what it is waiting for.
const lockWaitNotice = 2 * time.Second

// exclusiveLock takes the store's gc lock exclusively (see gclock), telling
// the user on stderr if writers make it wait.
func exclusiveLock(ctx context.Context, dir, cmd string, stderr io.Writer) (func(), error) {
	t := time.AfterFunc(lockWaitNotice, func() {
		fmt.Fprintf(stderr, "pcache-fsck %s: waiting for writers to finish (gc lock in %s)...\n", cmd, gclock.Dir(dir))
	})
	release, err := gclock.Exclusive(ctx, dir)
	t.Stop()
	return release, err
}
