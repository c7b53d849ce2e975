package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// The start gate of processes that run at the same time: each child prints
// gateReady on stdout once it is set up (a cache opened, python modules
// imported), then waits for a line on stdin before it starts its work.
const gateReady = "ready"

// awaitGate is a child's side of the gate.
func awaitGate(stdout io.Writer, stdin io.Reader) error {
	if _, err := fmt.Fprintln(stdout, gateReady); err != nil {
		return fmt.Errorf("start gate: %w", err)
	}
	if _, err := bufio.NewReader(stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("start gate: waiting for the start line on stdin: %w", err)
	}
	return nil
}

// gatedChild is one process of runGated.
type gatedChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	errb  bytes.Buffer
	rest  []byte    // stdout after the ready line
	done  time.Time // when it exited
	err   error
}

// runGated starts every command, waits until all are ready, releases them
// at once and waits for them to exit. It returns what each printed after
// its ready line, and the wall time from the release to the last exit.
func runGated(cmds []*exec.Cmd) ([][]byte, float64, error) {
	cs := make([]*gatedChild, len(cmds))
	abort := func(err error) ([][]byte, float64, error) {
		for _, c := range cs {
			if c != nil && c.cmd.Process != nil {
				c.stdin.Close()
				c.cmd.Process.Kill()
				c.cmd.Wait()
			}
		}
		return nil, 0, err
	}
	for i, cmd := range cmds {
		c := &gatedChild{cmd: cmd}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return abort(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return abort(err)
		}
		c.stdin, c.out = stdin, bufio.NewReader(stdout)
		cmd.Stderr = &c.errb
		if err := cmd.Start(); err != nil {
			return abort(fmt.Errorf("start %s: %w", cmd.Path, err))
		}
		cs[i] = c
	}
	for i, c := range cs {
		line, err := c.out.ReadString('\n')
		if strings.TrimSpace(line) != gateReady {
			c.stdin.Close()
			werr := c.cmd.Wait()
			return abort(fmt.Errorf("process %d of %d (%s) not ready: %q, %v, %v: %s",
				i+1, len(cs), c.cmd.Path, line, err, werr, bytes.TrimSpace(c.errb.Bytes())))
		}
	}
	start := time.Now()
	for _, c := range cs {
		_, err := io.WriteString(c.stdin, "go\n")
		c.err = errors.Join(err, c.stdin.Close())
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			rest, rerr := io.ReadAll(c.out)
			werr := c.cmd.Wait()
			c.done = time.Now()
			c.rest = rest
			c.err = errors.Join(c.err, rerr, werr)
		})
	}
	wg.Wait()
	outs := make([][]byte, len(cs))
	var last time.Time
	for i, c := range cs {
		if c.err != nil {
			return nil, 0, fmt.Errorf("process %d of %d (%s): %w: %s", i+1, len(cs), c.cmd.Path, c.err, bytes.TrimSpace(c.errb.Bytes()))
		}
		outs[i] = c.rest
		if c.done.After(last) {
			last = c.done
		}
	}
	return outs, float64(last.Sub(start).Nanoseconds()), nil
}
