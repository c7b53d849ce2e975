package torture_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/pcache/pcache"
	"github.com/pcache/pcache/internal/maintain"
	"github.com/pcache/pcache/internal/testutil"
)

func soak() bool                      { return testutil.Soak() }
func tortureSeed(t *testing.T) uint64 { return testutil.Seed(t) }

func openStore(t *testing.T, dir string, opts ...pcache.StoreOption) *pcache.Store {
	t.Helper()
	s, err := pcache.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCall[A, R any](t *testing.T, f *pcache.Func[A, R], ctx context.Context, a A) R {
	t.Helper()
	r, err := f.Call(ctx, a)
	if err != nil {
		t.Fatalf("Call(%+v): %v", a, err)
	}
	return r
}

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := pcache.CBOR.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
	return testutil.Tool(t, "cmd/pcache-fsck")
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

// libCheck is "pcache-fsck check [-repair] -json -dir dir" run in this
// process through the maintenance library, as the command does it
// (maintain.Open, the owner check before a repair, Check with the
// command's default grace of an hour): it returns the exit code the
// command would give and the report it would print, as runFsckCheck
// does, without starting a process (a tenth of the cost). A panic is an
// error, with code 2, as the command's would be. It is safe to call from
// any goroutine.
func libCheck(dir string, repair bool) (code int, rep *fsckReport, err error) {
	return libCheckGrace(dir, repair, time.Hour)
}

// libCheckGrace is libCheck with the command's -grace flag set to grace.
func libCheckGrace(dir string, repair bool, grace time.Duration) (code int, rep *fsckReport, err error) {
	defer func() {
		if r := recover(); r != nil {
			code, rep, err = 2, nil, fmt.Errorf("maintenance of %s panicked: %v\n%s", dir, r, debug.Stack())
		}
	}()
	c, err := maintain.Open(dir)
	if err != nil {
		return 1, nil, fmt.Errorf("check of %s: %w", dir, err)
	}
	if repair {
		if err := c.CheckOwner(); err != nil {
			return 1, nil, fmt.Errorf("check -repair of %s: %w", dir, err)
		}
	}
	r, err := c.Check(context.Background(), maintain.CheckOptions{Repair: repair, Grace: grace})
	if err != nil {
		return 1, nil, fmt.Errorf("check of %s: %w", dir, err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return 1, nil, err
	}
	rep = new(fsckReport)
	if err := json.Unmarshal(b, rep); err != nil {
		return 1, nil, err
	}
	if !r.Clean {
		code = 1
	}
	return code, rep, nil
}

// libFsckCheck is fsckCheck(t, dir, "-grace", grace) run in this process
// (libCheckGrace): for the checks that only need check's verdict, where
// the test runs the binary elsewhere.
func libFsckCheck(t *testing.T, dir string, grace time.Duration) (int, *fsckReport) {
	t.Helper()
	code, r, err := libCheckGrace(dir, false, grace)
	if err != nil {
		t.Fatal(err)
	}
	return code, r
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

// parseKey returns f.Key(args) as bytes.
func parseKey[A, R any](t *testing.T, f *pcache.Func[A, R], args A) [32]byte {
	t.Helper()
	k, err := f.Key(args)
	if err != nil {
		t.Fatal(err)
	}
	var h [32]byte
	if _, err := hex.Decode(h[:], []byte(k)); err != nil {
		t.Fatal(err)
	}
	return h
}
