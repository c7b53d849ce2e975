package record

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
)

// fastCases are entries of every shape the fast decoder handles, plus ones
// it leaves to the strict decoder (out files).
func fastCases() []struct {
	name string
	e    Entry
	fast bool
} {
	withCodec := ent(4, "z")
	withCodec.Codec, withCodec.Time = "raw", 1_700_000_000_000_000_000
	negTime := ent(5, "w")
	negTime.Time = math.MinInt64
	maxed := ent(6, "m")
	maxed.Time, maxed.Size = math.MaxInt64, math.MaxInt64
	noKey := ent(7, "n")
	noKey.Key = nil
	key24 := ent(8, "k")
	key24.Key = bytes.Repeat([]byte{'k'}, 24)
	key300 := ent(9, "k")
	key300.Key = bytes.Repeat([]byte{0xff}, 300)
	key70k := ent(10, "k")
	key70k.Key = bytes.Repeat([]byte{1}, 70_000)
	unicode := ent(11, "u")
	unicode.Codec = strings.Repeat("é", 20)
	zeroSize := ent(12, "")
	typed := ent(13, "y")
	typed.Type = kh(99)
	used := ent(14, "u")
	used.Used = 1_700_000_000_000_000_001
	both := ent(15, "b")
	both.Type, both.Used, both.Codec = kh(98), 5, "cbor"
	inline := ent(16, "i")
	inline.Inline = bytes.Repeat([]byte{'r'}, int(inline.Size))
	zstd := ent(17, "z")
	zstd.Zstd, zstd.Type, zstd.Used = true, kh(97), 6
	withOuts := seedEntries()[0]
	return []struct {
		name string
		e    Entry
		fast bool
	}{
		{"common", ent(1, "v"), true},
		{"compressed on the remote", zstd, true},
		{"tombstone", Entry{KeyHash: kh(2), Time: 43, Deleted: true}, true},
		{"codec", withCodec, true},
		{"negative time", negTime, true},
		{"max time and size", maxed, true},
		{"no key", noKey, true},
		{"key 24 bytes", key24, true},
		{"key 300 bytes", key300, true},
		{"key 70000 bytes", key70k, true},
		{"unicode codec", unicode, true},
		{"zero size", zeroSize, true},
		{"result type", typed, true},
		{"last use", used, true},
		{"every field", both, true},
		{"inline result", inline, true},
		{"out files", withOuts, false},
	}
}

func TestFastDecodeEntry(t *testing.T) {
	t.Parallel()
	for _, c := range fastCases() {
		t.Run(c.name, func(t *testing.T) {
			b, err := Encode(&c.e)
			if err != nil {
				t.Fatal(err)
			}
			var strict Entry
			if err := decodeStrict(b, &strict); err != nil {
				t.Fatalf("strict: %v", err)
			}
			var fast Entry
			if got := fastDecode(b, &fast); got != c.fast {
				t.Fatalf("fastDecode handled = %v, want %v", got, c.fast)
			}
			if c.fast && !reflect.DeepEqual(fast, strict) {
				t.Fatalf("fast != strict\nfast   %+v\nstrict %+v", fast, strict)
			}
			if !c.fast && !reflect.DeepEqual(fast, Entry{}) {
				t.Fatalf("fastDecode wrote e although it declined: %+v", fast)
			}
			got, err := decodeNew(b) // the wired-in path
			if err != nil || !reflect.DeepEqual(got, strict) {
				t.Fatalf("DecodeEntry = %+v, %v; want %+v", got, err, strict)
			}
		})
	}
}

// TestFastDecodeDeclines lists encodings the strict decoder accepts but that
// are not canonical, which the fast decoder must leave to it.
func TestFastDecodeDeclines(t *testing.T) {
	t.Parallel()
	e := ent(1, "v")
	e.Key = []byte("k")
	canon, err := Encode(&e) // a5 61 68 h 61 6b k 61 72 r 61 73 01 61 74 00
	if err != nil {
		t.Fatal(err)
	}
	hashH := canon[3:37]
	hashR := canon[43:77]
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	hk := cat([]byte{0x61, 'h'}, hashH, []byte{0x61, 'k', 0x41, 'k'})
	r := cat([]byte{0x61, 'r'}, hashR)
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"long-form map head", cat([]byte{0xb8, 5}, canon[1:])},
		{"long-form size", cat([]byte{0xa5}, hk, r, []byte{0x61, 's', 0x18, 1, 0x61, 't', 0})},
		{"keys out of order", cat([]byte{0xa5}, []byte{0x61, 't', 0}, hk, r, []byte{0x61, 's', 1})},
		{"zero size written", cat([]byte{0xa5}, hk, r, []byte{0x61, 's', 0, 0x61, 't', 0})},
		{"false tombstone written", cat([]byte{0xa6, 0x61, 'd', 0xf4}, hk, r, []byte{0x61, 's', 1, 0x61, 't', 0})},
		{"empty codec written", cat([]byte{0xa6, 0x61, 'c', 0x60}, hk, r, []byte{0x61, 's', 1, 0x61, 't', 0})},
		{"empty key written", cat([]byte{0xa4, 0x61, 'h'}, hashH, []byte{0x61, 'k', 0x40}, r, []byte{0x61, 't', 0})},
		{"no time", cat([]byte{0xa4}, hk, r, []byte{0x61, 's', 1})},
	} {
		t.Run(c.name, func(t *testing.T) {
			var strict, fast Entry
			if err := decodeStrict(c.b, &strict); err != nil {
				t.Fatalf("strict decoder refuses the case (fix the test): %v", err)
			}
			if fastDecode(c.b, &fast) {
				t.Fatalf("fastDecode accepted a non-canonical record: %+v", fast)
			}
			if got, err := decodeNew(c.b); err != nil || !reflect.DeepEqual(got, strict) {
				t.Fatalf("DecodeEntry = %+v, %v; want %+v", got, err, strict)
			}
		})
	}
	if !fastDecode(canon, new(Entry)) {
		t.Fatal("fastDecode declined the canonical record the cases are built from")
	}
}

// FuzzFastDecode checks the fast decoder against the strict one:
// whatever it accepts, the strict decoder accepts with an equal Entry, and
// is exactly the canonical encoding of that Entry; what it declines it
// leaves untouched.
func FuzzFastDecode(f *testing.F) {
	for _, c := range fastCases() {
		b, _ := Encode(&c.e)
		if len(b) > 1024 {
			continue // the 70000-byte key: too slow a seed
		}
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(append([]byte(nil), b...), 0))
		for _, i := range []int{0, 1, 2, len(b) / 2, len(b) - 2, len(b) - 1} {
			m := append([]byte(nil), b...)
			m[i] ^= 0x01
			f.Add(m)
			m[i] ^= 0x21
			f.Add(m)
		}
	}
	for _, e := range seedEntries() {
		b, _ := Encode(&e)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sentinel := Entry{Time: -7, Codec: "sentinel"}
		fast := sentinel
		in := bytes.Clone(b) // cleared afterwards: fast must not alias it
		ok := fastDecode(in, &fast)
		clear(in)
		if !ok {
			if !reflect.DeepEqual(fast, sentinel) {
				t.Fatalf("declined but wrote e: %+v", fast)
			}
			return
		}
		var strict Entry
		if err := decodeStrict(b, &strict); err != nil {
			t.Fatalf("fast accepted what strict refuses (%v): %x", err, b)
		}
		if !reflect.DeepEqual(fast, strict) { // (Key too: the input was cleared)
			t.Fatalf("fast != strict for %x\nfast   %#v\nstrict %#v", b, fast, strict)
		}
		if c, err := Encode(&fast); err != nil || !bytes.Equal(c, b) {
			t.Fatalf("fast accepted a non-canonical record %x (canonical %x, %v)", b, c, err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	e := ent(1, "v")
	e.Time = 1_700_000_000_000_000_000
	p, err := Encode(&e)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range []struct {
		name string
		fn   func([]byte, *Entry) error
	}{{"strict", decodeStrict}, {"wired", Decode}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			var out Entry
			for b.Loop() {
				if err := d.fn(p, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFastEncode: for every entry shape, Encode's bytes are exactly those
// of the reflective encoder (the definition of the form), whether or not
// the fast encoder handled it.
func TestFastEncode(t *testing.T) {
	t.Parallel()
	cases := fastCases()
	badCodec := ent(20, "x")
	badCodec.Codec = "\xff\xfe"
	negSize := ent(21, "n")
	negSize.Size, negSize.Used = -5, -6
	emptyKey := ent(22, "e")
	emptyKey.Key, emptyKey.Inline = []byte{}, []byte{}
	for _, c := range append(cases, []struct {
		name string
		e    Entry
		fast bool
	}{{"codec not UTF-8", badCodec, false}, {"negative size and use", negSize, true}, {"empty, not nil, key and inline", emptyKey, true}}...) {
		t.Run(c.name, func(t *testing.T) {
			want, werr := encodeReflect(&c.e)
			got, ok := fastEncode(&c.e)
			if c.name == "codec not UTF-8" || c.name == "out files" {
				if ok {
					t.Fatalf("fastEncode handled an entry it should leave to the reflective encoder")
				}
				return
			}
			if !ok || werr != nil {
				t.Fatalf("fastEncode handled = %v; reflective error %v", ok, werr)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("fastEncode\n%x\nreflective\n%x", got, want)
			}
		})
	}
}

// FuzzFastEncode builds entries from fuzzed fields and wants the fast
// encoder's bytes equal to the reflective encoder's.
func FuzzFastEncode(f *testing.F) {
	f.Add([]byte("key"), []byte(nil), "raw", int64(1), int64(2), int64(0), uint8(0), byte(1))
	f.Add([]byte(nil), []byte("inline"), "", int64(-1), int64(0), int64(-9), uint8(15), byte(0))
	f.Fuzz(func(t *testing.T, key, inline []byte, codec string, tm, size, used int64, flags uint8, seed byte) {
		e := Entry{Key: key, Inline: inline, Codec: codec, Time: tm, Size: size, Used: used,
			Deleted: flags&1 != 0, Zstd: flags&2 != 0}
		e.KeyHash[0], e.KeyHash[31] = seed, 1
		if flags&4 != 0 {
			e.Result[5] = seed | 1
		}
		if flags&8 != 0 {
			e.Type[7] = seed | 2
		}
		got, ok := fastEncode(&e)
		if !ok {
			return
		}
		want, err := encodeReflect(&e)
		if err != nil {
			t.Fatalf("reflective encoder refuses what the fast one encodes: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("fastEncode\n%x\nreflective\n%x", got, want)
		}
	})
}

// BenchmarkEncode: a miss's record, through Encode (fast) and through the
// reflective encoder that defines the form.
func BenchmarkEncode(b *testing.B) {
	e := ent(1, "cbor")
	e.Key = bytes.Repeat([]byte{0x42}, 40)
	e.Type, e.Used = kh(7), e.Time+1
	for _, c := range []struct {
		name string
		enc  func(*Entry) ([]byte, error)
	}{{"fast", Encode}, {"reflect", encodeReflect}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.enc(&e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFastEncodeHeader: the hand-written header encoding is byte for byte
// what the reflective encoder writes.
func TestFastEncodeHeader(t *testing.T) {
	count := func(n uint64) *uint64 { return &n }
	long := strings.Repeat("name/", 60)
	for _, tc := range []struct {
		format, name string
		version      uint64
		count        *uint64
	}{
		{JournalFormat, "f", Version, nil},
		{SegmentFormat, "bench/firsthit", InlineVersion, count(0)},
		{SegmentFormat, "a-name-of-24-characters-", ZstdVersion, count(23)},
		{SegmentFormat, long, 1 << 40, count(1 << 33)},
		{"", "", 0, count(255)},
		{JournalFormat, "ünïcödé/名前", 65536, nil},
	} {
		got, ok := fastEncodeHeader(tc.format, tc.version, tc.name, tc.count)
		want, err := encMode.Marshal(&Header{Format: tc.format, Version: tc.version, Digest: digestName, Name: tc.name, Count: tc.count})
		if !ok || err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q %q v%d: fast %x (%v), reflective %x (%v)", tc.format, tc.name, tc.version, got, ok, want, err)
		}
	}
	if _, ok := fastEncodeHeader(JournalFormat, Version, "bad\xff", nil); ok {
		t.Error("a name that is not UTF-8 was encoded by hand")
	}
}
