package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// peersScript is run with python3 for the peers' scenarios.
//
//go:embed peers.py
var peersScript []byte

// Environment variables that choose the python peers.
const (
	pythonEnv     = "PCACHE_BENCH_PYTHON" // the python3 to use (default: python3 on $PATH, then /usr/bin/python3)
	permacacheEnv = "PERMACACHE_SRC"      // permacache's source tree, put on $PYTHONPATH; unset: no permacache rows
)

// python is the interpreter that runs the peers, as probed once per run.
type python struct {
	exe      string            // "" when no candidate ran
	tried    []string          // the candidates, in order
	versions map[string]string // peer module -> version, for those that import
	errs     map[string]string // peer module -> why it does not import
	script   string            // peers.py, written into the scratch directory
}

// probeReply is what `peers.py probe` prints: module -> version or null,
// module+"_error" -> why it did not import.
type probeReply map[string]*string

// python returns the run's python peers, probing on first use: the first
// candidate that imports diskcache, else the first that runs at all.
func (b *bench) python(ctx context.Context) (*python, error) {
	if b.py != nil {
		return b.py, nil
	}
	py := &python{script: filepath.Join(b.cfg.dir, "peers.py")}
	if err := os.WriteFile(py.script, peersScript, 0o644); err != nil {
		return nil, fmt.Errorf("write peers.py: %w", err)
	}
	if v := os.Getenv(pythonEnv); v != "" {
		py.tried = []string{v}
	} else {
		py.tried = []string{"python3", "/usr/bin/python3"}
	}
	for _, cand := range py.tried {
		out, err := py.run(ctx, cand, "", "probe")
		if err != nil {
			b.logf("python peers: %s: %v", cand, err)
			continue
		}
		var rep probeReply
		if err := json.Unmarshal(out, &rep); err != nil {
			b.logf("python peers: %s probe: bad output %q: %v", cand, out, err)
			continue
		}
		versions, errs := map[string]string{}, map[string]string{}
		for k, v := range rep {
			switch {
			case strings.HasSuffix(k, "_error") && v != nil:
				errs[strings.TrimSuffix(k, "_error")] = *v
			case v != nil:
				versions[k] = *v
			}
		}
		if py.exe == "" || versions["diskcache"] != "" && py.versions["diskcache"] == "" {
			py.exe, py.versions, py.errs = cand, versions, errs
		}
		if versions["diskcache"] != "" {
			break
		}
	}
	if py.exe != "" {
		b.logf("python peers: %s (python %s): %v", py.exe, py.versions["python"], py.versions)
	}
	b.py = py
	return py, nil
}

// skip says why the rows of peer lib cannot be measured, or "": the peer
// is not installed (skip), or permacache's source given by $PERMACACHE_SRC
// does not import (fail).
func (py *python) skip(lib string) (skip, fail string) {
	if lib == "permacache" && os.Getenv(permacacheEnv) == "" {
		return permacacheEnv + " not set (it names permacache's source tree)", ""
	}
	if py.exe != "" && py.versions[lib] != "" {
		return "", ""
	}
	if lib == "permacache" && py.exe != "" {
		return "", fmt.Sprintf("permacache from %s=%s does not import under %s: %s", permacacheEnv, os.Getenv(permacacheEnv), py.exe, py.errs[lib])
	}
	return fmt.Sprintf("python3 with %s not found (tried %s; set %s)", lib, strings.Join(py.tried, ", "), pythonEnv), ""
}

// env is the environment of a peer run: permacache's source on PYTHONPATH,
// every peer's cache under dir, no bytecode written beside the sources.
func (py *python) env(dir string) []string {
	env := append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	if src := os.Getenv(permacacheEnv); src != "" {
		pp := src
		if old := os.Getenv("PYTHONPATH"); old != "" {
			pp += string(os.PathListSeparator) + old
		}
		env = append(env, "PYTHONPATH="+pp)
	}
	if dir != "" {
		env = append(env, "PERMACACHE_DIR="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, "xdg"))
	}
	return env
}

// command is peers.py with args under exe (py.exe if ""), the peers'
// caches in dir.
func (py *python) command(ctx context.Context, exe, dir string, args ...string) *exec.Cmd {
	if exe == "" {
		exe = py.exe
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{py.script}, args...)...)
	cmd.Env = py.env(dir)
	return cmd
}

// run runs peers.py with args under exe (py.exe if "") and returns its
// stdout.
func (py *python) run(ctx context.Context, exe, dir string, args ...string) ([]byte, error) {
	cmd := py.command(ctx, exe, dir, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s peers.py %s: %w: %s", cmd.Path, strings.Join(args, " "), err, bytes.TrimSpace(errb.Bytes()))
	}
	return out.Bytes(), nil
}

// peerRun is what `peers.py bench` reports.
type peerRun struct {
	MissNs   float64 `json:"miss_ns"`
	HitNs    float64 `json:"hit_ns"`
	Computes int     `json:"computes"`
}

// bench runs `peers.py bench` for lib with its cache in a new directory dir.
func (py *python) bench(ctx context.Context, lib, dir string, keys, hits int) (peerRun, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return peerRun{}, err
	}
	out, err := py.run(ctx, "", dir, "bench", lib, dir, strconv.Itoa(keys), strconv.Itoa(hits))
	if err != nil {
		return peerRun{}, err
	}
	var r peerRun
	if err := json.Unmarshal(out, &r); err != nil {
		return peerRun{}, fmt.Errorf("peers.py bench %s: bad output %q: %w", lib, out, err)
	}
	if r.MissNs <= 0 || r.HitNs <= 0 {
		return peerRun{}, fmt.Errorf("peers.py bench %s: no timing in %q", lib, out)
	}
	return r, nil
}
