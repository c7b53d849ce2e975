package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseAge parses a Go duration ("90m", "1h30m") or a number of days ("30d",
// "1.5d"). Negative and malformed values are errors: maintenance never falls
// back to a default it was not asked for.
func parseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(days, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 30d, 12h or 90m", s)
		}
		if f*24 > float64(math.MaxInt64/int64(time.Hour)) {
			return 0, fmt.Errorf("invalid duration %q: too long", s)
		}
		d = time.Duration(f * 24 * float64(time.Hour))
		if f < 0 {
			d = -1
		}
	} else {
		var err error
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 30d, 12h or 90m", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: negative", s)
	}
	return d, nil
}

// parseSize parses a byte count: a plain number of bytes, or a number with a
// decimal (KB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB) unit, any case.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
		{"b", 1},
	}
	mult := 1.0
	lower := strings.ToLower(t)
	for _, u := range units {
		if num, ok := strings.CutSuffix(lower, u.suffix); ok {
			lower, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(lower, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || lower == "" {
		return 0, fmt.Errorf("invalid size %q: want e.g. 500M, 10G or 2GiB", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("invalid size %q: negative", s)
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(v), nil
}

// ageFlag is a flag.Value holding a duration parsed by parseAge; with
// positive, 0 is refused (an age limit of nothing is a mistake, not "off").
type ageFlag struct {
	d        time.Duration
	set      bool
	positive bool
}

func (a *ageFlag) String() string {
	if a == nil {
		return ""
	}
	return a.d.String()
}

func (a *ageFlag) Set(s string) error {
	d, err := parseAge(s)
	if err != nil {
		return err
	}
	if a.positive && d == 0 {
		return fmt.Errorf("invalid duration %q: must be positive (leave the flag out for no limit)", s)
	}
	a.d, a.set = d, true
	return nil
}

// sizeFlag is a flag.Value holding a byte count parsed by parseSize; 0 is
// refused (a size limit of nothing would empty what it limits: leave the
// flag out for no limit).
type sizeFlag struct {
	n   int64
	set bool
}

func (z *sizeFlag) String() string {
	if z == nil || !z.set {
		return ""
	}
	return strconv.FormatInt(z.n, 10)
}

func (z *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("invalid size %q: 0 would evict everything; give a positive size, or leave the flag out for no limit", s)
	}
	z.n, z.set = n, true
	return nil
}
