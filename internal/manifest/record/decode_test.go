package record

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/pcache/pcache/internal/testutil"
)

func FuzzDecode(f *testing.F) {
	for _, e := range seedEntries() {
		p, _ := Encode(&e)
		f.Add(p)
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeNew(b)
		if err != nil {
			if !errors.Is(err, ErrBad) {
				t.Fatalf("error does not wrap ErrBad: %v", err)
			}
			return
		}
		// What decodes re-encodes, and the re-encoding decodes to the same.
		c, err := Encode(&e)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		e2, err := decodeNew(c)
		if err != nil || !reflect.DeepEqual(normal(e), normal(e2)) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, e, e2)
		}
	})
}

// normal maps empty slices to nil (the encoding omits both alike).
func normal(e Entry) Entry {
	if len(e.Key) == 0 {
		e.Key = nil
	}
	if len(e.Outs) == 0 {
		e.Outs = nil
	}
	for i := range e.Outs {
		if len(e.Outs[i].Paths) == 0 {
			e.Outs[i].Paths = nil
		}
	}
	return e
}

// Declared lengths and counts in hostile records are checked against what is
// there before anything is allocated.
// Not parallel: its allocation bound reads what the whole process allocates.
func TestHostileAllocation(t *testing.T) {
	huge := []struct {
		name string
		b    []byte
	}{
		{"byte string of 2^62", []byte{0xa1, 0x61, 'k', 0x5b, 0x40, 0, 0, 0, 0, 0, 0, 0}},
		{"array of 2^31", []byte{0xa1, 0x61, 'f', 0x9a, 0x80, 0, 0, 0}},
		{"map of 2^31", []byte{0xba, 0x80, 0, 0, 0}},
		{"deep nesting", bytes.Repeat([]byte{0x81}, 10000)},
		{"100000 empty out files", append([]byte{0xa1, 0x61, 'f', 0x9a, 0, 1, 0x86, 0xa0}, bytes.Repeat([]byte{0xa0}, 100000)...)},
		{"1000 out files of 1000 empty paths", append(
			[]byte{0xa1, 0x61, 'f', 0x99, 0x03, 0xe8},
			bytes.Repeat(append([]byte{0xa1, 0x61, 'p', 0x99, 0x03, 0xe8}, bytes.Repeat([]byte{0xa0}, 1000)...), 1000)...)},
	}
	for _, tc := range huge {
		grew := testutil.Allocated(func() { decodeNew(tc.b) })
		if grew > 16*uint64(len(tc.b))+64<<10 {
			t.Errorf("%s: decoding %d bytes allocated %d", tc.name, len(tc.b), grew)
		}
	}
	for _, b := range [][]byte{
		{0x82, 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x82, 0x5a, 0xff, 0xff, 0xff, 0xff},
	} {
		if _, err := ParseFrame(b); !errors.Is(err, ErrFraming) {
			t.Errorf("ParseFrame(%x) = %v, want ErrFraming", b, err)
		}
	}
}

// TestNewer pins the resolution rule: time first, then the content without
// the last use, then the last use.
func TestNewer(t *testing.T) {
	t.Parallel()
	a := ent(1, "a")
	a.Time = 10
	later := a
	later.Time = 11
	touched := a
	touched.Used = 99
	other := ent(1, "b")
	other.Time = 10
	for _, c := range []struct {
		name string
		x, y Entry
		want bool
	}{
		{"later time wins", later, a, true},
		{"earlier time loses", a, later, false},
		{"a touch beats the same record", touched, a, true},
		{"the same record loses to its touch", a, touched, false},
		{"identical records are equal", a, a, false},
	} {
		if got := Newer(&c.x, &c.y); got != c.want {
			t.Errorf("%s: Newer = %v, want %v", c.name, got, c.want)
		}
	}
	// Different contents at one time: exactly one order wins, and a touch
	// never changes which content wins.
	if Newer(&a, &other) == Newer(&other, &a) {
		t.Fatal("tie-break is not antisymmetric")
	}
	touchedOther := other
	touchedOther.Used = 1 << 40
	if Newer(&a, &other) != Newer(&a, &touchedOther) {
		t.Fatal("a touch changed which content wins")
	}
}

func TestHeaderVersions(t *testing.T) {
	t.Parallel()
	for _, v := range []uint64{1, 2, 3, 4} {
		b, err := encMode.Marshal(&Header{Format: JournalFormat, Version: v, Digest: digestName, Name: "f"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ParseHeader(b, JournalFormat); err != nil {
			t.Errorf("version %d: %v", v, err)
		}
	}
	b, _ := encMode.Marshal(&Header{Format: JournalFormat, Version: MaxVersion + 1, Digest: digestName, Name: "f"})
	if _, _, err := ParseHeader(b, JournalFormat); !errors.Is(err, ErrUnknownVersion) {
		t.Errorf("version %d: %v, want ErrUnknownVersion", MaxVersion+1, err)
	}
	b, _ = encMode.Marshal(&Header{Format: JournalFormat, Version: 0, Digest: digestName, Name: "f"})
	if _, _, err := ParseHeader(b, JournalFormat); !errors.Is(err, ErrBadHeader) {
		t.Errorf("version 0: %v, want ErrBadHeader", err)
	}
}

// TestInlineResults: a record carrying its result inline round-trips
// through both decoders alike; a carried result never changes which record
// wins; one whose length is not the record's size, or on a tombstone, is
// damage.
func TestInlineResults(t *testing.T) {
	t.Parallel()
	e := Entry{KeyHash: [32]byte{1}, Time: 5, Result: [32]byte{2}, Size: 3, Codec: "cbor", Type: [32]byte{3}, Inline: []byte("abc")}
	b, err := Encode(&e)
	if err != nil {
		t.Fatal(err)
	}
	var fast, strict Entry
	if !fastDecode(b, &fast) {
		t.Fatal("the fast decoder refused an inline record")
	}
	if err := decodeStrict(b, &strict); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fast, e) || !reflect.DeepEqual(strict, e) {
		t.Fatalf("fast %+v, strict %+v, want %+v", fast, strict, e)
	}
	bare := e
	bare.Inline = nil
	if Newer(&e, &bare) || Newer(&bare, &e) {
		t.Fatal("carrying the result inline changed which record wins")
	}
	used := bare
	used.Used = 9
	if !Newer(&used, &e) {
		t.Fatal("a later use lost to the same record carrying its result")
	}
	z := bare
	z.Zstd = true
	if Newer(&z, &bare) || Newer(&bare, &z) {
		t.Fatal("saying the remote holds an object compressed changed which record wins")
	}
	for name, bad := range map[string]Entry{
		"short":     {KeyHash: [32]byte{1}, Time: 5, Result: [32]byte{2}, Size: 4, Inline: []byte("abc")},
		"tombstone": {KeyHash: [32]byte{1}, Time: 5, Deleted: true, Inline: []byte("abc")},
	} {
		b, err := Encode(&bad)
		if err != nil {
			t.Fatal(err)
		}
		var got Entry
		if err := Decode(b, &got); !errors.Is(err, ErrBad) {
			t.Errorf("%s: %v, want ErrBad", name, err)
		}
	}
}
