package maintain

import (
	"runtime"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/board"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/manifest"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil/testcache"
)

// The change board of a Cache stays mapped while a manifest it opened
// writes, even once the Cache itself is collected: each removal still
// reaches the processes watching the board. (A cleanup on the Cache used
// to unmap the board under such a manifest, which then bumped nothing, or
// memory that was no longer the board's.)
func TestBoardOutlivesTheCache(t *testing.T) {
	tc := testcache.New(t, testcache.Loose)
	tc.Fill("f", 1, nil)
	watcher := board.Open(layout.New(tc.Dir).Board(), true) // as another process maps it
	if watcher == nil {
		t.Skip("no change board on this platform")
	}
	defer watcher.Close()
	topic := board.TopicOf("manifest:f")
	for round := range 20 {
		c, err := Open(tc.Dir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := manifest.Open(c.d, "f", c.ManifestOptions())
		if err != nil {
			t.Fatal(err)
		}
		c = nil // only the manifest holds the board now
		collected := make(chan struct{})
		sentinel := new([4]*int) // not a tiny allocation, which may never be collected alone
		runtime.AddCleanup(sentinel, func(ch chan struct{}) { close(ch) }, collected)
		sentinel = nil
		runtime.GC()
		select { // the cleanups queued by this collection have started
		case <-collected:
		case <-time.After(10 * time.Second):
			t.Fatal("no cleanup ran within 10 s of a collection")
		}
		before, _ := watcher.Load(topic)
		if err := m.Delete(record.KeyHash{byte(round), 1}); err != nil {
			t.Fatal(err)
		}
		after, _ := watcher.Load(topic)
		m.Close()
		if after == before {
			t.Fatalf("round %d: a removal by a manifest of a collected Cache did not reach the board (%d)", round, after)
		}
	}
}
