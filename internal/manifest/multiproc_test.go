package manifest

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/testutil"
)

const (
	workerEnv   = "PCACHE_MANIFEST_TEST_WORKER" // "<root> <worker id>"
	workerKeys  = 2000
	workerProcs = 4
)

// TestMultiProcess runs workerProcs processes (this test binary re-executed)
// that each append workerKeys distinct keys, one Append at a time, with a
// tiny JournalLimit so that journal rotations and background compactions of
// all four race each other. Afterwards every key must be there.
func TestMultiProcess(t *testing.T) {
	if spec := os.Getenv(workerEnv); spec != "" {
		runWorker(t, spec)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	root := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, workerProcs)
	outs := make([][]byte, workerProcs)
	for p := 0; p < workerProcs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := testutil.Rerun("TestMultiProcess", fmt.Sprintf("%s=%s %d", workerEnv, root, p))
			outs[p], errs[p] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for p, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v\n%s", p, err, outs[p])
		}
	}
	m := mustOpen(t, root, "multi", Options{})
	for i := 0; i < workerProcs*workerKeys; i++ {
		wantResult(t, m, i, strconv.Itoa(i))
	}
	if n := len(allEntries(t, m)); n != workerProcs*workerKeys {
		t.Fatalf("Iterate: %d entries, want %d", n, workerProcs*workerKeys)
	}
	if ps, err := Check(layout.New(root), "multi"); err != nil || len(ps) != 0 {
		t.Fatalf("Check: %v %v", ps, err)
	}
	js, ss := files(t, m.dir)
	t.Logf("%d journals, %d segments", len(js), len(ss))
}

func runWorker(t *testing.T, spec string) {
	var root string
	var id int
	if _, err := fmt.Sscanf(spec, "%s %d", &root, &id); err != nil {
		t.Fatalf("bad %s %q: %v", workerEnv, spec, err)
	}
	m, err := Open(layout.New(root), "multi", Options{JournalLimit: 64, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	for i := id * workerKeys; i < (id+1)*workerKeys; i++ {
		if err := m.Append(ent(i, strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		// Read back some keys of the others as they go.
		if i%97 == 0 {
			if _, _, err := m.Lookup(kh((i + workerKeys) % (workerProcs * workerKeys))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// Goroutines appending and looking up through one Manifest and through
// separate Manifests on one directory, with rotation and compaction going on.
func TestConcurrentGoroutines(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	shared := mustOpen(t, root, "g", Options{JournalLimit: 16})
	const workers, per = 6, 150
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := shared
			if w%2 == 1 {
				own, err := Open(layout.New(root), "g", Options{JournalLimit: 16})
				if err != nil {
					t.Error(err)
					return
				}
				defer own.Close()
				m = own
			}
			for i := w * per; i < (w+1)*per; i++ {
				if err := m.Append(ent(i, strconv.Itoa(i))); err != nil {
					t.Error(err)
					return
				}
				e, ok, err := m.Lookup(kh(i))
				if err != nil || !ok || e.Result != ent(i, strconv.Itoa(i)).Result {
					t.Errorf("key %d right after Append: %v %v", i, ok, err)
					return
				}
				if i%10 == 0 {
					if err := m.Iterate(func(Entry) error { return nil }); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := shared.Refresh(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < workers*per; i++ {
		wantResult(t, shared, i, strconv.Itoa(i))
	}
}
