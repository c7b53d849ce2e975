package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/cas"
	"github.com/pcache/pcache/internal/maintain"
)

func TestExitCodesAndJSON(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	es := c.Fill("f", 3, nil)
	for _, tc := range []struct {
		args []string
		code int
		json bool
	}{
		{[]string{"nosuch"}, 2, false},
		{[]string{"check", "-bogus"}, 2, false},
		{[]string{"check", "extra-arg"}, 2, false},
		{[]string{"ls"}, 1, false}, // the default directory is no cache: not a usage error
		{[]string{"rm", "f", "-key", "xyz"}, 2, false},
		{[]string{"export", "f"}, 2, false},
		{[]string{"-h"}, 0, false},
		{[]string{"help"}, 0, false},
		{[]string{"help", "gc"}, 0, false},
		{[]string{"help", "nosuch"}, 2, false},
		{[]string{"gc", "-h"}, 0, false},
		{[]string{"check", "-dir", c.Dir + "/missing"}, 1, false},
		{[]string{"ls", "nosuch", "-dir", c.Dir}, 1, false},
		{[]string{"check", "-dir", c.Dir, "-json"}, 0, true},
		{[]string{"gc", "-dry-run", "-dir", c.Dir, "-json"}, 0, true},
		{[]string{"stats", "-dir", c.Dir, "-json"}, 0, true},
		{[]string{"ls", "f", "-dir", c.Dir, "-json"}, 0, true},
		{[]string{"rm", "f", "-dry-run", "-dir", c.Dir, "-json"}, 0, true},
		{[]string{"check", "-dir", c.Dir + "/missing", "-json"}, 1, true},
	} {
		// The process's exit status, not run's return value.
		r := execCLI(t, tc.args...)
		if r.code != tc.code {
			t.Errorf("pcache-fsck %s: exit %d, want %d\nstderr:\n%s", strings.Join(tc.args, " "), r.code, tc.code, r.stderr)
		}
		if tc.json {
			var v any
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Errorf("%v: stdout is not JSON: %v\n%s", tc.args, err, r.stdout)
			}
		}
	}
	_ = es
}

func TestStatsAndLs(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	c.Fill("a", 4, func(i int) []byte { return []byte("same") }) // 4 entries, 1 object
	es := c.Fill("b", 2, nil)
	r := runCLICode(t, 0, "stats", "-dir", c.Dir, "-json")
	var st maintain.StatsReport
	decodeJSON(t, r.stdout, &st)
	if len(st.Functions) != 2 || st.Functions[0].Entries != 4 || st.Functions[0].Objects != 1 ||
		st.Functions[0].Bytes != 4 || st.Functions[0].Apparent != 16 || st.Total.Entries != 6 || st.Total.Objects != 3 {
		t.Fatalf("stats %+v", st)
	}
	if st.Functions[0].Oldest == nil || time.Since(*st.Functions[0].Oldest) > time.Hour {
		t.Errorf("oldest %v", st.Functions[0].Oldest)
	}
	r = runCLICode(t, 0, "stats", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "TOTAL") {
		t.Errorf("stats text:\n%s", r.stdout)
	}

	r = runCLICode(t, 0, "ls", "b", "-dir", c.Dir)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], shortHash(es[0].KeyHash)) && !strings.HasPrefix(lines[2], shortHash(es[0].KeyHash)) {
		t.Errorf("ls:\n%s", r.stdout)
	}
	r = runCLICode(t, 0, "ls", "b", "-key", shortHash(es[1].KeyHash), "-dir", c.Dir, "-json")
	var list []maintain.EntryInfo
	decodeJSON(t, r.stdout, &list)
	if len(list) != 1 || list[0].Result != cas.ID(es[1].Result).String() || list[0].LastUsed == nil || list[0].Created == nil {
		t.Errorf("ls -key: %+v", list)
	}
}

func TestRm(t *testing.T) {
	t.Parallel()
	c := newTestCache(t)
	es := c.Fill("f", 40, nil)
	c.Fill("g", 2, nil)
	// An ambiguous prefix drops nothing: with 40 entries some 1-hex-digit
	// prefix is shared, but -key needs 4 digits, so use a digit pair check.
	r := runCLICode(t, 0, "rm", "f", shortHash(es[3].KeyHash), "-dir", c.Dir)
	if !strings.Contains(r.stdout, "removed entry f "+shortHash(es[3].KeyHash)) {
		t.Errorf("rm output:\n%s", r.stdout)
	}
	if c.Hit("f", "k3") || !c.Hit("f", "k4") {
		t.Error("rm -key dropped the wrong entries")
	}
	runCLICode(t, 1, "rm", "f", "-key", "0000000000000000", "-dir", c.Dir) // no match
	r = runCLICode(t, 0, "rm", "f", "-dir", c.Dir)
	if !strings.Contains(r.stdout, "rm: removed every entry of f (39 entries)") {
		t.Errorf("rm output:\n%s", r.stdout)
	}
	for i := range es {
		if c.Hit("f", fmt.Sprintf("k%d", i)) {
			t.Errorf("k%d of f survived rm f", i)
		}
	}
	if len(c.Live("f")) != 0 {
		t.Errorf("entries of f after rm: %d", len(c.Live("f")))
	}
	if !c.Hit("g", "k0") {
		t.Error("rm of f touched g")
	}
}

func TestParseAgeAndSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0s", 0, true}, {"1h", time.Hour, true}, {"90m", 90 * time.Minute, true},
		{"30d", 30 * 24 * time.Hour, true}, {"1.5d", 36 * time.Hour, true},
		{"", 0, false}, {"d", 0, false}, {"-1h", 0, false}, {"-2d", 0, false},
		{"soon", 0, false}, {"30 d", 0, false}, {"1e400d", 0, false}, {"NaNd", 0, false},
	} {
		got, err := parseAge(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseAge(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1234", 1234, true}, {"10GB", 10e9, true}, {"10gb", 10e9, true},
		{"2GiB", 2 << 30, true}, {"512MiB", 512 << 20, true}, {"1.5KB", 1500, true},
		{"7KiB", 7 << 10, true}, {"3TB", 3e12, true}, {"100B", 100, true}, {"4 MB", 4e6, true},
		{"", 0, false}, {"GB", 0, false}, {"-1GB", 0, false}, {"10XB", 0, false}, {"1e30TB", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseSize(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// shortHash is how pcache-fsck prints a key hash: its first 12 hex digits.
func shortHash(h [32]byte) string { return fmt.Sprintf("%x", h[:6]) }
