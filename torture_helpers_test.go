package pcache_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// soak reports whether PCACHE_SOAK asks for the long versions of the torture
// tests.
func soak() bool { return os.Getenv("PCACHE_SOAK") != "" && os.Getenv("PCACHE_SOAK") != "0" }

// tortureSeed returns $PCACHE_TORTURE_SEED (to replay a failure) or a fresh
// seed, and logs it.
func tortureSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PCACHE_TORTURE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PCACHE_TORTURE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with PCACHE_TORTURE_SEED=%d)", seed, seed)
	return seed
}

// fsckFinding and fsckReport are the parts of `pcache-fsck check -json` the
// torture tests read.
type fsckFinding struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Path     string `json:"path"`
	Detail   string `json:"detail"`
}

type fsckReport struct {
	Entries  int           `json:"entries"`
	Objects  int           `json:"objects"`
	Errors   int           `json:"errors"`
	Hints    int           `json:"hints"`
	Findings []fsckFinding `json:"findings"`
	Clean    bool          `json:"clean"`
}

func (r *fsckReport) String() string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString(f.Severity + " " + f.Kind + " " + f.Path + ": " + f.Detail + "\n")
	}
	return b.String()
}

// fsckBinary returns the path of the pcache-fsck binary the fsck helper
// builds once per test run.
func fsckBinary(t *testing.T) string {
	t.Helper()
	fsck(t, "help")
	return fsckPath
}

// runFsckCheck runs `pcache-fsck check -json` with extra flags on dir and
// returns its exit code and parsed report. It is safe to call from any
// goroutine once fsckBinary has returned.
func runFsckCheck(bin, dir string, flags ...string) (int, *fsckReport, error) {
	cmd := exec.Command(bin, append(append([]string{"check", "-json"}, flags...), "-dir", dir)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		return 0, nil, err
	}
	var r fsckReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return code, nil, fmt.Errorf("pcache-fsck check -json on %s exited %d with unparsable output: %v\n%s%s", dir, code, err, stdout.Bytes(), stderr.Bytes())
	}
	return code, &r, nil
}

// fsckCheck is runFsckCheck for the test goroutine.
func fsckCheck(t *testing.T, dir string, flags ...string) (int, *fsckReport) {
	t.Helper()
	code, r, err := runFsckCheck(fsckBinary(t), dir, flags...)
	if err != nil {
		t.Fatal(err)
	}
	return code, r
}
