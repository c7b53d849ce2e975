package manifest

import (
	"sync"
	"testing"

	"github.com/pcache/pcache/internal/fsutil"
)

// waitFilters waits for every filter build started so far.
func (m *Manifest) waitFilters() { m.filters.Wait() }

func TestBloomNoFalseNegatives(t *testing.T) {
	t.Parallel()
	f := &bloom{blocks: make([][8]uint64, (5000*bloomBitsPer+511)/512)}
	for i := 0; i < 5000; i++ {
		h := kh(i)
		f.add(h[:])
	}
	falsePos := 0
	for i := 0; i < 5000; i++ {
		if h := kh(i); !f.mayContain(&h) {
			t.Fatalf("key %d: false negative", i)
		}
		if h := kh(i + 1e6); f.mayContain(&h) {
			falsePos++
		}
	}
	if falsePos > 250 { // ~1% expected
		t.Errorf("%d of 5000 absent keys pass the filter", falsePos)
	}
}

// filterSegments writes segs segments of per entries each (keys
// [s*per, (s+1)*per)), each large enough to get a filter.
func filterSegments(t *testing.T, root string, segs, per int) {
	t.Helper()
	for s := 0; s < segs; s++ {
		es := make([]Entry, per)
		for i := range es {
			es[i] = ent(s*per+i, "v")
			es[i].Time = 1
		}
		writeSeg(t, root, "f", es...)
	}
}

// Not parallel: it sets the package's useMmap.
func TestSegmentFilters(t *testing.T) {
	const segs, per = 3, bloomMinCount + 100
	root := t.TempDir()
	filterSegments(t, root, segs, per)
	small := make([]Entry, 10)
	for i := range small {
		small[i] = ent(segs*per+i, "v")
		small[i].Time = 1
	}
	writeSeg(t, root, "f", small...)
	for _, mmap := range []bool{true, false} {
		if mmap && !fsutil.CanMap {
			continue
		}
		useMmap = mmap
		m := mustOpen(t, root, "f", Options{ReadOnly: true})
		m.waitFilters()
		for _, s := range segments(m) {
			if s.filter.Load() != nil {
				t.Fatalf("segment of %d entries has a filter before any lookup", s.count)
			}
		}
		for i := range bloomAfter {
			wantAbsent(t, m, 2e6+i) // every segment searched
		}
		m.waitFilters()
		withFilter := 0
		for _, s := range segments(m) {
			if f := s.filter.Load(); f != nil {
				withFilter++
				if f.fence == nil || f.fence.Len() != s.count {
					t.Fatalf("segment of %d entries: filter without a fence of its index", s.count)
				}
			} else if s.count >= bloomMinCount {
				t.Fatalf("segment of %d entries has no filter", s.count)
			}
		}
		if withFilter != segs {
			t.Fatalf("%d segments with filters, want %d", withFilter, segs)
		}
		tests := []struct {
			name     string
			from, to int
			present  bool
		}{
			{"filtered segments", 0, segs * per, true},
			{"small segment", segs * per, segs*per + len(small), true},
			{"absent", 1e6, 1e6 + 2000, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for i := tt.from; i < tt.to; i++ {
					if tt.present {
						wantResult(t, m, i, "v")
					} else {
						wantAbsent(t, m, i)
					}
				}
			})
		}
		m.Close()
	}
	useMmap = fsutil.CanMap
}

// TestFilterRefreshRace replaces filtered segments by a compaction while
// their filters are being built and lookups run (meant for -race).
func TestFilterRefreshRace(t *testing.T) {
	t.Parallel()
	const segs, per = 4, bloomMinCount + 10
	root := t.TempDir()
	filterSegments(t, root, segs, per)
	m := mustOpen(t, root, "f", Options{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 2; g++ {
		wg.Go(func() {
			for i := g; ; i += 97 {
				select {
				case <-stop:
					return
				default:
				}
				k := i % (segs * per)
				if _, ok, err := m.Lookup(kh(k)); !ok || err != nil {
					t.Errorf("key %d: ok=%v err=%v", k, ok, err)
					return
				}
			}
		})
	}
	if err := m.Compact(true); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	for i := range bloomAfter {
		wantAbsent(t, m, 2e6+i) // the compaction's output searched
	}
	m.waitFilters()
	if segs := segments(m); len(segs) != 1 || segs[0].filter.Load() == nil {
		t.Fatalf("after compaction: %d segments, want 1 with a filter", len(segs))
	}
	for i := 0; i < segs*per; i++ {
		wantResult(t, m, i, "v")
	}
	for i := 0; i < 1000; i++ {
		wantAbsent(t, m, 1e6+i)
	}
	// A second manifest closed while its builders may still run: Close
	// waits for them (a leak would show as a race or a mapping in use).
	m2 := mustOpen(t, root, "f", Options{ReadOnly: true})
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	m2.waitFilters()
}
