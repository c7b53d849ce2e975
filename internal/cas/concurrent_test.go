package cas

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/testutil"
)

// Many goroutines writing the same objects (and some different ones) at once
// is the normal case for a cache; all must succeed and leave good objects.
// (32 goroutines; -short, 12.)
func TestConcurrentPutSameContent(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	shared := testutil.Bytes(1, 3*bufSize+11)
	goroutines := 32
	if testing.Short() {
		goroutines = 12
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	start := make(chan struct{})
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var id ID
			var err error
			switch g % 3 {
			case 0:
				id, err = s.Put(shared)
			case 1:
				id, _, err = s.PutReader(bytes.NewReader(shared))
			default:
				id, err = s.Put(testutil.Bytes(uint64(100+g), 1000))
			}
			if err == nil {
				_, err = s.Get(id, -1) // what this goroutine wrote is readable at once
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	must(t, s.Verify(Sum(shared)))
	n := 0
	must(t, s.walkObjects(func(id ID, _ os.FileInfo) error {
		n++
		return s.Verify(id)
	}))
	if want := 1 + goroutines/3; n != want {
		t.Errorf("%d objects, want %d", n, want)
	}
	if names := tempEntries(t, s); len(names) != 0 {
		t.Fatalf("temp files left: %v", names)
	}
}

// Worker protocol for TestMultiProcessPut: the test binary re-runs itself
// with casWorkerEnv set to "<root> <worker index>"; the worker waits for its
// stdin to close (so all start together), writes, and exits.
const (
	casWorkerEnv  = "PCACHE_CAS_TEST_WORKER"
	workers       = 4
	sharedObjects = 40
	ownObjects    = 10
)

func sharedContent(i int) []byte {
	n := 100 + i*997
	if i%10 == 0 {
		n = 2*bufSize + i // some multi-buffer objects
	}
	return testutil.Bytes(uint64(i), n)
}

func ownContent(w, i int) []byte { return testutil.Bytes(uint64(1_000_000+w*1000+i), 500+i) }

func TestMultiProcessWorker(t *testing.T) {
	arg := os.Getenv(casWorkerEnv)
	if arg == "" {
		t.Skip("helper process for TestMultiProcessPut")
	}
	var root string
	var w int
	if _, err := fmt.Sscan(arg, &root, &w); err != nil {
		t.Fatal(err)
	}
	s, err := Open(layout.New(root), Options{Durable: w%2 == 0, PackLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, os.Stdin) // start barrier
	for i := range sharedObjects {
		// Alternate the order between workers so they collide on both ends.
		j := i
		if w%2 == 1 {
			j = sharedObjects - 1 - i
		}
		b := sharedContent(j)
		if j%2 == 0 {
			_, err = s.Put(b)
		} else {
			_, _, err = s.PutReader(bytes.NewReader(b))
		}
		if err != nil {
			t.Fatal(err)
		}
		if i < ownObjects {
			if _, err := s.Put(ownContent(w, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestMultiProcessPut(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	s, _ := newStore(t)
	var cmds []*exec.Cmd
	var stdins []io.WriteCloser
	var outs []*bytes.Buffer
	for w := range workers {
		cmd := testutil.Rerun("TestMultiProcessWorker", casWorkerEnv+"="+s.d.Root()+" "+strconv.Itoa(w))
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		in, err := cmd.StdinPipe()
		must(t, err)
		must(t, cmd.Start())
		cmds, stdins, outs = append(cmds, cmd), append(stdins, in), append(outs, out)
	}
	for _, in := range stdins {
		in.Close()
	}
	for w, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("worker %d: %v\n%s", w, err, outs[w])
		}
	}
	want := map[ID][]byte{}
	for i := range sharedObjects {
		want[Sum(sharedContent(i))] = sharedContent(i)
	}
	for w := range workers {
		for i := range ownObjects {
			want[Sum(ownContent(w, i))] = ownContent(w, i)
		}
	}
	seen := 0
	must(t, s.walkObjects(func(id ID, _ os.FileInfo) error {
		seen++
		b, err := s.Get(id, -1)
		if err != nil {
			return err
		}
		if wb, ok := want[id]; !ok || !bytes.Equal(b, wb) {
			t.Errorf("unexpected object %s", id)
		}
		return nil
	}))
	if seen != len(want) {
		t.Errorf("%d objects after the workers, want %d", seen, len(want))
	}
	if names := tempEntries(t, s); len(names) != 0 {
		t.Errorf("temp files left: %v", names)
	}
}
