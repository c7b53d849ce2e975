package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/pcache/pcache"
)

// check measures `pcache-fsck check` on a cache of cfg.checkObjs objects of
// cfg.checkSize bytes that are in the page cache, against raw BLAKE3 on
// every core.
func (b *bench) check(ctx context.Context) error {
	dir, err := b.subdir("check")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	bin, err := b.fsckBinary(ctx, dir)
	if err != nil {
		return err
	}
	cache := filepath.Join(dir, "cache")
	s, err := pcache.Open(cache)
	if err != nil {
		return err
	}
	f, err := pcache.Wrap(s, "bench/check", func(_ context.Context, i int) ([]byte, error) {
		return patternBytes(b.cfg.checkSize, uint64(i)+100), nil
	})
	if err != nil {
		s.Close()
		return err
	}
	for i := range b.cfg.checkObjs {
		if _, err := f.Call(ctx, i); err != nil {
			s.Close()
			return err
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	total := float64(b.cfg.checkObjs) * float64(b.cfg.checkSize)
	if _, err := runCheck(ctx, bin, cache, int64(total)); err != nil { // warms the page cache
		return err
	}
	check := func() (float64, error) { // ns per byte, as check measured itself
		rep, err := runCheck(ctx, bin, cache, int64(total))
		if err != nil {
			return 0, err
		}
		return rep.Seconds * 1e9 / float64(rep.HashedBytes), nil
	}
	raw := patternBytes(min(b.cfg.big, int(total)), 5)
	blake := func() (float64, error) { // ns per byte on one core
		ns, err := floorBlake3(raw)()
		return ns / float64(len(raw)), err
	}
	best, err := interleave(ctx, b.cfg.checkRuns, blake, check)
	if err != nil {
		return err
	}
	cores := runtime.NumCPU()
	b.add(Row{ID: "check", Scenario: fmt.Sprintf("pcache-fsck check, %d objects × %s in the page cache", b.cfg.checkObjs, sizeName(b.cfg.checkSize)),
		Unit: unitBps, Result: 1e9 / best[1], Floor: fmt.Sprintf("%d cores × raw BLAKE3", cores), FloorValue: float64(cores) * 1e9 / best[0],
		Target: &Target{"ratio", ">=", 0.7, "issue 9"}})
	return nil
}

// checkReport is the part of `pcache-fsck check -json` the benchmark reads.
type checkReport struct {
	HashedBytes int64   `json:"hashed_bytes"`
	Seconds     float64 `json:"seconds"`
	Errors      int     `json:"errors"`
	Clean       bool    `json:"clean"`
}

func runCheck(ctx context.Context, bin, cache string, want int64) (checkReport, error) {
	cmd := exec.CommandContext(ctx, bin, "check", "-dir", cache, "-json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var rep checkReport
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		return rep, fmt.Errorf("%s check: %v; output %q: %w", bin, err, errb.String(), jerr)
	}
	if err != nil || !rep.Clean {
		return rep, fmt.Errorf("%s check: not clean (%d errors, %v): %s", bin, rep.Errors, err, out.String())
	}
	if rep.HashedBytes < want || rep.Seconds <= 0 {
		return rep, fmt.Errorf("%s check hashed %d bytes in %gs, want %d bytes", bin, rep.HashedBytes, rep.Seconds, want)
	}
	return rep, nil
}

// fsckBinary returns the pcache-fsck to measure: -fsck, else one beside this
// executable, else one built with go build into dir, else one on $PATH.
func (b *bench) fsckBinary(ctx context.Context, dir string) (string, error) {
	if b.cfg.fsck != "" {
		return b.cfg.fsck, nil
	}
	name := "pcache-fsck"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	var buildErr error
	if goTool, err := exec.LookPath("go"); err == nil {
		p := filepath.Join(dir, name)
		out, err := exec.CommandContext(ctx, goTool, "build", "-o", p, "github.com/pcache/pcache/cmd/pcache-fsck").CombinedOutput()
		if err == nil {
			b.logf("built %s", p)
			return p, nil
		}
		buildErr = fmt.Errorf("go build pcache-fsck: %v: %s", err, bytes.TrimSpace(out))
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", errors.Join(errors.New("no pcache-fsck binary (use -fsck PATH)"), buildErr)
}
