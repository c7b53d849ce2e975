package torture_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/testutil"
)

// corruptKeys is the number of entries of the base cache the corruption
// trials damage copies of.
const corruptKeys = 10

type corruptArgs struct {
	K   int
	Out string `pcache:",out"`
}

func corruptWant(k int) (string, []byte) {
	v := strings.Repeat(fmt.Sprintf("result %d;", k), 10+k*37%150)
	return v, testutil.Bytes(uint64(k)<<8|3, 64+k*211%3000)
}

func corruptFunc(s *pcache.Store, computed *atomic.Int64) *pcache.Func[corruptArgs, string] {
	f, err := corruptWrap(s, computed)
	if err != nil {
		panic(err)
	}
	return f
}

func corruptWrap(s *pcache.Store, computed *atomic.Int64) (*pcache.Func[corruptArgs, string], error) {
	return pcache.Wrap(s, "torture/corrupt", func(_ context.Context, a corruptArgs) (string, error) {
		if computed != nil {
			computed.Add(1)
		}
		v, out := corruptWant(a.K)
		if err := os.WriteFile(a.Out, out, 0o644); err != nil {
			return "", err
		}
		return v, nil
	})
}

// buildCorruptBase writes a small cache with every kind of file: a segment
// (keys compacted by gc), a journal (later keys, and out-file restores to new
// paths), result objects and out-file objects (loose files, or packs and
// their indexes, as opts choose).
func buildCorruptBase(t *testing.T, opts ...pcache.StoreOption) string {
	t.Helper()
	dir, outs := t.TempDir(), t.TempDir()
	ctx := context.Background()
	call := func(f *pcache.Func[corruptArgs, string], k int, out string) {
		if _, err := f.Call(ctx, corruptArgs{K: k, Out: filepath.Join(outs, out)}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := pcache.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	f := corruptFunc(s, nil)
	for k := range corruptKeys / 2 {
		call(f, k, strconv.Itoa(k))
	}
	s.Close()
	if code, out := fsck(t, "gc", "-grace", "0s", "-dir", dir); code != 0 {
		t.Fatalf("gc: %d\n%s", code, out)
	}
	s, err = pcache.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	f = corruptFunc(s, nil)
	for k := corruptKeys / 2; k < corruptKeys; k++ {
		call(f, k, strconv.Itoa(k))
	}
	for k := range 3 {
		call(f, k, "again-"+strconv.Itoa(k))
	}
	s.Close()
	// The check of the base runs in this process (libCheckGrace); one
	// trial in ten runs the binary.
	if code, rep := libFsckCheck(t, dir, 0); code != 0 || len(rep.Findings) > 0 {
		t.Fatalf("base cache is not clean: %d\n%s", code, rep)
	}
	return dir
}

// damageTarget is one file of a base cache the trials may damage.
type damageTarget struct {
	base       string       // the base cache it belongs to
	rel        string       // path relative to the cache directory
	kind       string       // journal, segment, pack, pack index, result object or out-file object
	journal    bool         // a journal: truncation at a record boundary is undetectable
	boundaries map[int]bool // for journals: offsets where a header or record ends
	// regions are the parts of the file's format (for a journal its header
	// and its records; for a segment its header, records, index and
	// trailer; for a pack its header and records; for a pack index its
	// header, entries and trailer; an object is one region): -short's
	// trials damage each of them.
	regions []damageRegion
}

// damageRegion is the byte range [lo, hi) of one part of a file's format.
type damageRegion struct {
	name   string
	lo, hi int
}

// The frame of pack files (see package cas): a pack's header, and a pack
// index's fixed part (header, size covered, hash, count) and trailer.
const (
	packHeaderSize     = 16
	packIndexFixedSize = 16 + 8 + 32 + 8
	packIndexTrailer   = 32
)

func listTargets(t *testing.T, dir string) (objects, manifests []damageTarget) {
	t.Helper()
	outs := map[string]bool{} // the out files' contents, which name the out-file objects
	for k := range corruptKeys {
		_, out := corruptWant(k)
		outs[string(out)] = true
	}
	for _, sub := range []string{"objects", "manifests"} {
		err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			tg := damageTarget{base: dir, rel: filepath.ToSlash(rel)}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			n := len(b)
			switch {
			case strings.HasSuffix(p, ".pcp"):
				tg.kind = "pack"
				tg.regions = []damageRegion{{"header", 0, packHeaderSize}, {"records", packHeaderSize, n}}
			case strings.HasSuffix(p, ".pci"):
				tg.kind = "pack index"
				tg.regions = []damageRegion{{"header", 0, packIndexFixedSize}, {"entries", packIndexFixedSize, n - packIndexTrailer},
					{"trailer", n - packIndexTrailer, n}}
			case sub == "objects" && outs[string(b)]:
				tg.kind = "out-file object"
				tg.regions = []damageRegion{{"object", 0, n}}
			case sub == "objects":
				tg.kind = "result object"
				tg.regions = []damageRegion{{"object", 0, n}}
			case strings.HasSuffix(p, ".pcj"):
				tg.kind, tg.journal = "journal", true
				tg.boundaries = itemBoundaries(t, p)
				ends := sortedEnds(tg.boundaries)
				tg.regions = []damageRegion{{"header", 0, ends[0]}, {"records", ends[0], n}}
			case strings.HasSuffix(p, ".pcs"):
				tg.kind = "segment"
				// A CBOR sequence: header, records, index, trailer.
				ends := sortedEnds(itemBoundaries(t, p))
				if len(ends) < 4 {
					t.Fatalf("%s: %d CBOR items, want a header, records, an index and a trailer", p, len(ends))
				}
				idx := ends[len(ends)-3]     // where the records end and the index begins
				trailer := ends[len(ends)-2] // where the index ends and the trailer begins
				tg.regions = []damageRegion{{"header", 0, ends[0]}, {"records", ends[0], idx}, {"index", idx, trailer}, {"trailer", trailer, n}}
			default:
				t.Fatalf("base cache holds %s: not a file the trials know how to damage", rel)
			}
			for _, r := range tg.regions {
				if r.hi-r.lo < 2 {
					t.Fatalf("%s: the %s is %d bytes: too small to damage", rel, r.name, r.hi-r.lo)
				}
			}
			if sub == "objects" {
				objects = append(objects, tg)
			} else {
				manifests = append(manifests, tg)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return objects, manifests
}

// otherReadableVersion reports whether flipping byte i of journal b by x
// leaves a header that reads as another version this pcache reads (2 to 1,
// 3 or 4): the header has no checksum, and the records read alike, so no
// check can tell the damage from a file such a writer left.
func otherReadableVersion(b []byte, i int, x byte) bool {
	h, _, err := record.ParseHeader(b, record.JournalFormat)
	if err != nil {
		return false
	}
	d := slices.Clone(b)
	d[i] ^= x
	g, _, err := record.ParseHeader(d, record.JournalFormat)
	return err == nil && g.Version != h.Version
}

// sortedEnds returns the offsets of an itemBoundaries map in order.
func sortedEnds(boundaries map[int]bool) []int {
	ends := make([]int, 0, len(boundaries))
	for e := range boundaries {
		ends = append(ends, e)
	}
	slices.Sort(ends)
	return ends
}

// corruptPlan is one trial's damage: which file, which kind of damage
// (damageKinds; -1: a random one) and where (a region of the file; zero:
// anywhere).
type corruptPlan struct {
	tg     damageTarget
	kind   int
	region damageRegion
}

// damageKinds are the kinds of damage: flip a byte, truncate, zero a range.
const damageKinds = 3

// shortCorruptPlans is -short's systematic selection of trials: every kind
// of damage in every region of every kind of file (result and out-file
// objects, journals, segments, packs and pack indexes), twice in the
// records and index entries (the largest regions), the files of one kind
// taking turns (journals and segments come from both bases; loose objects
// from the one without packs, packs from the other). The loose objects come first, so that
// the trials that run the binary (one in ten) meet every kind of file but
// the out-file objects.
func shortCorruptPlans(targets []damageTarget) []corruptPlan {
	var plans []corruptPlan
	for _, kind := range []string{"result object", "out-file object", "journal", "segment", "pack", "pack index"} {
		var of []damageTarget
		for _, tg := range targets {
			if tg.kind == kind {
				of = append(of, tg)
			}
		}
		if len(of) == 0 {
			continue // the caller requires every kind
		}
		turn := 0
		for r := range of[0].regions {
			reps := 1
			if name := of[0].regions[r].name; name == "records" || name == "entries" {
				reps = 2
			}
			for dk := range damageKinds {
				for range reps {
					tg := of[turn%len(of)]
					turn++
					plans = append(plans, corruptPlan{tg: tg, kind: dk, region: tg.regions[r]})
				}
			}
		}
	}
	return plans
}

// itemBoundaries returns the offsets at which the CBOR items of a journal
// (its header, then one array per record) or a segment (header, records,
// index, trailer) end.
func itemBoundaries(t *testing.T, path string) map[int]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ends := map[int]bool{}
	for rest := b; len(rest) > 0; {
		var raw cbor.RawMessage
		r, err := cbor.UnmarshalFirst(rest, &raw)
		if err != nil {
			t.Fatalf("%s: item at %d: %v", path, len(b)-len(rest), err)
		}
		rest = r
		ends[len(b)-len(rest)] = true
	}
	return ends
}

// damage applies damage of the plan's kind (a random one if it is -1) to
// the file, at a random place in the plan's region (anywhere if it is
// zero), and describes it.
func damage(rng *rand.Rand, path string, plan corruptPlan) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	n, tg := len(b), plan.tg
	lo, hi := plan.region.lo, plan.region.hi
	if hi == 0 {
		lo, hi = 0, n
	}
	at := func() int { return lo + rng.IntN(hi-lo) }
	kind := plan.kind
	if kind < 0 {
		kind = rng.IntN(damageKinds)
	}
	var what string
	switch kind {
	case 0:
		i, x := at(), byte(1+rng.IntN(255))
		for tg.journal && otherReadableVersion(b, i, x) { // what a writer of that version would have written
			i, x = at(), byte(1+rng.IntN(255))
		}
		b[i] ^= x
		what = fmt.Sprintf("flip byte %d of %d (xor %#02x)", i, n, x)
	case 1:
		cut := at()
		for tg.journal && tg.boundaries[cut] { // indistinguishable from a writer that stopped there
			cut = at()
		}
		b = b[:cut]
		what = fmt.Sprintf("truncate to %d of %d bytes", cut, n)
	case 2:
		for {
			i := at()
			j := i + 1 + rng.IntN(min(64, hi-i)) // within the region (hi is n without one)
			if slices.ContainsFunc(b[i:j], func(c byte) bool { return c != 0 }) {
				clear(b[i:j])
				what = fmt.Sprintf("zero bytes [%d, %d) of %d", i, j, n)
				break
			}
		}
	}
	if plan.region.name != "" {
		what += " (" + tg.kind + " " + plan.region.name + ")"
	}
	os.Chmod(path, 0o644)
	return what, os.WriteFile(path, b, 0o444)
}

// TestCorruptionIsDetectedAndNeverServed runs 1,000 trials (5,000 with
// PCACHE_SOAK=1). Each copies a small base cache, damages one random object
// or manifest file (flip a byte, truncate, or zero a range), then requires
// that pcache-fsck check exits 1 naming that file (one trial in ten runs the
// binary, the others its check through the maintenance library in this
// process), and that every call on the damaged copy returns the right value
// and restores the right out file (recomputing where the damage took the
// entry away). In -short the trials are chosen, not drawn: each kind of
// damage in each part of each kind of file (shortCorruptPlans), 51 trials,
// the places within each part still random.
func TestCorruptionIsDetectedAndNeverServed(t *testing.T) {
	t.Parallel()
	trials := 1000
	if soak() {
		trials = 5000
	}
	seed := tortureSeed(t)
	// Two bases: one object per file, and the default, small objects in packs.
	objects, manifests := listTargets(t, buildCorruptBase(t, pcache.PackLimit(0)))
	if len(manifests) < 2 || len(objects) < 2*corruptKeys {
		t.Fatalf("base cache has %d manifest files and %d objects; want a segment, a journal and %d objects", len(manifests), len(objects), 2*corruptKeys)
	}
	packs, packManifests := listTargets(t, buildCorruptBase(t))
	if len(packs) < 2 || !slices.ContainsFunc(packs, func(d damageTarget) bool { return strings.HasSuffix(d.rel, ".pci") }) {
		t.Fatalf("packed base cache has %v; want packs and their indexes", packs)
	}
	manifests = append(manifests, packManifests...)
	var plans []corruptPlan
	if testing.Short() {
		all := slices.Concat(objects, manifests, packs)
		for _, kind := range []string{"result object", "out-file object", "journal", "segment", "pack", "pack index"} {
			if !slices.ContainsFunc(all, func(d damageTarget) bool { return d.kind == kind }) {
				t.Fatalf("the base caches hold no %s", kind)
			}
		}
		plans = shortCorruptPlans(all)
		trials = len(plans)
	}
	bin := fsckBinary(t)
	work := t.TempDir()

	var (
		detected, refused, wrong, callErrors, recomputed atomic.Int64
		onManifests, onPacks, failures, next             atomic.Int64
		wg                                               sync.WaitGroup
	)
	start := time.Now()
	for range max(4, runtime.GOMAXPROCS(0)*2) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= trials {
					return
				}
				rng := rand.New(rand.NewPCG(seed, uint64(i)))
				plan := corruptPlan{kind: -1}
				if plans != nil {
					plan = plans[i]
				} else {
					switch rng.IntN(4) {
					case 0, 1: // half the trials hit the few manifest files
						plan.tg = manifests[rng.IntN(len(manifests))]
					case 2:
						plan.tg = objects[rng.IntN(len(objects))]
					case 3:
						plan.tg = packs[rng.IntN(len(packs))]
					}
				}
				tg := plan.tg
				switch {
				case strings.HasPrefix(tg.rel, "manifests/"):
					onManifests.Add(1)
				case strings.HasPrefix(tg.rel, "objects/pack/"):
					onPacks.Add(1)
				}
				res, err := corruptTrial(rng, bin, filepath.Join(work, strconv.Itoa(i)), plan, i%10 == 0)
				if err != nil && failures.Add(1) <= 10 {
					t.Errorf("trial %d (%s): %v", i, tg.rel, err)
				}
				if res.detected {
					detected.Add(1)
				}
				if res.refused {
					refused.Add(1)
				}
				wrong.Add(int64(res.wrong))
				callErrors.Add(int64(res.errors))
				recomputed.Add(int64(res.recomputed))
			}
		})
	}
	wg.Wait()
	t.Logf("%d trials (%d on manifest files, %d on packs and their indexes, %d on loose objects) in %v: %d detected by pcache-fsck check (exit 1, damaged file named), %d wrong values, %d failed calls, %d recomputations, %d functions refused (journal header claiming a newer format)",
		trials, onManifests.Load(), onPacks.Load(), int64(trials)-onManifests.Load()-onPacks.Load(), time.Since(start).Round(time.Millisecond),
		detected.Load(), wrong.Load(), callErrors.Load(), recomputed.Load(), refused.Load())
	if detected.Load() != int64(trials) || wrong.Load() != 0 || callErrors.Load() != 0 {
		t.Fatalf("%d of %d trials detected, %d wrong values, %d failed calls", detected.Load(), trials, wrong.Load(), callErrors.Load())
	}
}

// trialResult is what one corruption trial found.
type trialResult struct {
	detected   bool // check exited 1 with an error naming the damaged file
	refused    bool // Wrap refused the function: a journal header now claims a newer format version
	wrong      int  // calls that returned a wrong value or out file without an error
	errors     int  // calls that failed
	recomputed int
}

// corruptTrial damages a copy of the plan's base as the plan says, runs
// check on it, then calls every key on it.
func corruptTrial(rng *rand.Rand, bin, dir string, plan corruptPlan, viaCLI bool) (res trialResult, err error) {
	defer os.RemoveAll(dir)
	tg := plan.tg
	if err := testutil.CopyTree(tg.base, dir, "locks", "tmp"); err != nil {
		return res, err
	}
	what, err := damage(rng, filepath.Join(dir, filepath.FromSlash(tg.rel)), plan)
	if err != nil {
		return res, err
	}
	// One trial in ten runs the pcache-fsck binary; the others run its
	// check through the maintenance library in this process (libCheck),
	// which finds the same, for a tenth of the cost.
	check := func(dir string) (int, *fsckReport, error) { return libCheck(dir, false) }
	if viaCLI {
		check = func(dir string) (int, *fsckReport, error) { return runFsckCheck(bin, dir) }
	}
	code, rep, err := check(dir)
	if err != nil {
		return res, err
	}
	named := slices.ContainsFunc(rep.Findings, func(f fsckFinding) bool {
		return f.Severity == "error" && (f.Path == tg.rel || strings.HasPrefix(f.Path, tg.rel+" ")) // "objects/pack/x.pcp (object …)"
	})
	res.detected = code == 1 && named
	if !res.detected {
		err = fmt.Errorf("%s: check exited %d without an error naming the file:\n%s", what, code, rep)
	}

	s, oerr := pcache.Open(dir)
	if oerr != nil {
		res.errors++
		return res, errors.Join(err, fmt.Errorf("%s: Open: %w", what, oerr))
	}
	defer s.Close()
	var n atomic.Int64
	f, werr := corruptWrap(s, &n)
	if werr != nil {
		// A journal header has no checksum: a damaged version number
		// that reads as a newer format is refused (fail closed), and check
		// has named the file. Anything else is a failure.
		if tg.journal && errors.Is(werr, record.ErrUnknownVersion) {
			res.refused = true
			return res, err
		}
		res.errors++
		return res, errors.Join(err, fmt.Errorf("%s: Wrap: %w", what, werr))
	}
	outs := filepath.Join(dir, "restored")
	if err := os.Mkdir(outs, 0o755); err != nil {
		return res, err
	}
	for k := range corruptKeys {
		p := filepath.Join(outs, strconv.Itoa(k))
		v, cerr := f.Call(context.Background(), corruptArgs{K: k, Out: p})
		if cerr != nil {
			res.errors++
			err = errors.Join(err, fmt.Errorf("%s: key %d: %w", what, k, cerr))
			continue
		}
		want, wantOut := corruptWant(k)
		got, rerr := os.ReadFile(p)
		if v != want || rerr != nil || !bytes.Equal(got, wantOut) {
			res.wrong++
			err = errors.Join(err, fmt.Errorf("%s: key %d: WRONG: got %d bytes (want %d), out file %d bytes (want %d) %v",
				what, k, len(v), len(want), len(got), len(wantOut), rerr))
		}
	}
	res.recomputed = int(n.Load())
	return res, err
}
