// Package s3server runs versitygw, an S3-compatible server, on 127.0.0.1
// for pcache's tests and benchmarks: one per test, or one shared per process.
package s3server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// EnvRequired, set to "required" (as .ci/run does), turns a missing S3
// server into a test failure instead of a skip.
const EnvRequired = "PCACHE_TEST_S3"

// EnvBinary names the versitygw binary (default: versitygw on $PATH, then
// $GOBIN or $GOPATH/bin).
const EnvBinary = "PCACHE_TEST_VERSITYGW"

// Binary returns the path of the versitygw binary, or "".
func Binary() string {
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(os.Getenv("GOPATH"), "bin"), filepath.Join(os.Getenv("HOME"), "go", "bin")} {
		if dir == "" || dir == "bin" {
			continue
		}
		if p := filepath.Join(dir, "versitygw"); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Server is a versitygw process serving a directory on 127.0.0.1.
type Server struct {
	Bin, Dir, Addr string
	Access, Secret string
	KeepAlive      bool // started with --keep-alive
	cmd            *exec.Cmd
	exited         chan struct{}
}

// Start starts a server of its own for the test (stopped at its end), or
// skips the test when there is no versitygw binary (fails under
// PCACHE_TEST_S3=required).
func Start(t testing.TB) *Server {
	t.Helper()
	if Binary() == "" {
		if os.Getenv(EnvRequired) == "required" {
			t.Fatalf("no versitygw binary ($%s, $PATH, $GOPATH/bin) and $%s=required", EnvBinary, EnvRequired)
		}
		t.Skipf("no versitygw binary: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 (or set $%s)", EnvBinary)
	}
	s, err := Launch(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// ErrNoBinary is Launch's error when there is no versitygw binary.
var ErrNoBinary = fmt.Errorf("s3server: no versitygw binary ($%s, $PATH, $GOBIN or $GOPATH/bin)", EnvBinary)

// Launch starts a server on a free port of 127.0.0.1 serving dir (created
// if needed), for a caller that is not a test (the benchmark harness); the
// caller stops it with Stop. Without a versitygw binary it returns
// ErrNoBinary. With keepAlive the server keeps connections open between
// requests, as S3 does; by default versitygw closes each connection after
// its response, so every request of a client connects anew.
func Launch(dir string, keepAlive bool) (*Server, error) {
	bin := Binary()
	if bin == "" {
		return nil, ErrNoBinary
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("s3server: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("s3server: pick a port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{Bin: bin, Dir: dir, Addr: addr, Access: "pcachetest", Secret: "pcachetestsecret", KeepAlive: keepAlive}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) start() error {
	args := []string{"--port", s.Addr}
	if s.KeepAlive {
		args = append(args, "--keep-alive")
	}
	cmd := exec.Command(s.Bin, append(args, "posix", s.Dir)...)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.Access, "ROOT_SECRET_KEY="+s.Secret)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("s3server: start versitygw: %w", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "http://"+s.Addr) {
				said = true
				close(ready)
			}
		}
		if !said {
			close(ready)
		}
		cmd.Wait()
		close(s.exited)
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		s.Stop()
		return fmt.Errorf("s3server: versitygw did not start within 30s")
	}
	// The banner comes as the listener opens; make sure it accepts.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("s3server: versitygw exited at start")
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("s3server: versitygw not accepting on %s: %w", s.Addr, err)
		}
		runtimeYield()
	}
}

// runtimeYield gives the server a moment between connection attempts.
func runtimeYield() { time.Sleep(20 * time.Millisecond) }

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts the stopped server again on the same address and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// Endpoint is the server's URL.
func (s *Server) Endpoint() string { return "http://" + s.Addr }

// Bucket creates a bucket and returns its name.
func (s *Server) Bucket(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, err := s.CreateBucket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// CreateBucket is Bucket for a caller that is not a test.
func (s *Server) CreateBucket(ctx context.Context) (string, error) {
	name := fmt.Sprintf("pcache-%d", time.Now().UnixNano())
	c := s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint()), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.Access, s.Secret, ""),
	})
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return "", fmt.Errorf("s3server: create bucket: %w", err)
	}
	return name, nil
}

// Env sets the standard AWS variables for the test (not parallel tests):
// what a user sets to reach the server.
func (s *Server) Env(t testing.TB) {
	t.Setenv("AWS_ENDPOINT_URL", s.Endpoint())
	t.Setenv("AWS_ACCESS_KEY_ID", s.Access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.Secret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}

// EnvList is Env as a list, for child processes.
func (s *Server) EnvList() []string {
	return []string{"AWS_ENDPOINT_URL=" + s.Endpoint(), "AWS_ACCESS_KEY_ID=" + s.Access, "AWS_SECRET_ACCESS_KEY=" + s.Secret,
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull}
}

// EnvEndpoint, with EnvAccess and EnvSecret, names a server that is
// already running (.ci/run starts one for the whole suite).
const (
	EnvEndpoint = "PCACHE_TEST_S3_ENDPOINT"
	EnvAccess   = "PCACHE_TEST_S3_ACCESS_KEY"
	EnvSecret   = "PCACHE_TEST_S3_SECRET_KEY"
)

// Shared returns the running server $PCACHE_TEST_S3_ENDPOINT names, or
// starts one for the test (see Start). Tests that stop the server use
// Start.
func Shared(t testing.TB) *Server {
	t.Helper()
	if ep := os.Getenv(EnvEndpoint); ep != "" {
		return &Server{Addr: strings.TrimPrefix(ep, "http://"), Access: os.Getenv(EnvAccess), Secret: os.Getenv(EnvSecret)}
	}
	return Start(t)
}
