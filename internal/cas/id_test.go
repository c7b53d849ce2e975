package cas

import (
	"strings"
	"testing"
)

func TestSumKnownVector(t *testing.T) {
	t.Parallel()
	// BLAKE3 of the empty input, from the BLAKE3 specification's test vectors.
	const want = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
	if got := Sum(nil).String(); got != want {
		t.Fatalf("Sum(nil) = %s, want %s", got, want)
	}
}

func TestParseID(t *testing.T) {
	t.Parallel()
	good := Sum([]byte("x")).String()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{good, true},
		{strings.Repeat("0", 64), true},
		{strings.ToUpper(good), false}, // object names are lowercase only
		{good[:63], false},
		{good + "0", false},
		{"", false},
		{strings.Repeat("g", 64), false},
		{" " + good[1:], false},
	} {
		id, err := ParseID(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseID(%q) error %v, want ok=%v", tc.in, err, tc.ok)
		}
		if tc.ok && id.String() != tc.in {
			t.Errorf("ParseID(%q).String() = %q", tc.in, id)
		}
	}
	if !(ID{}).IsZero() || Sum(nil).IsZero() {
		t.Error("IsZero")
	}
}

// ParseID decodes names read from disk (object files, manifests): it must
// never panic, and accept exactly the strings ID.String produces.
func FuzzParseID(f *testing.F) {
	f.Add(Sum(nil).String())
	f.Add(strings.Repeat("f", 64))
	f.Add(strings.Repeat("F", 64))
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q) round-trips to %q", s, id)
		}
	})
}
