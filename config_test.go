package pcache_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pcache/pcache"
)

// TestConfigMistakesAreLoud: a mistyped $PCACHE_MODE never quietly turns
// the cache off (MemoErr returns ErrConfig without computing, Memo panics
// on its first call, Open fails), and a bad $PCACHE_REMOTE or
// $PCACHE_REMOTE_MODE costs the remote alone: the local cache serves hits,
// and the mistake is logged at error level.
func TestConfigMistakesAreLoud(t *testing.T) {
	t.Run("PCACHE_MODE typo, MemoErr", func(t *testing.T) {
		useDefault(t)
		t.Setenv("PCACHE_MODE", "error_on_miss")
		var n atomic.Int64
		f := pcache.MemoErr("config/memoerr", func(x int) (int, error) { n.Add(1); return x, nil })
		_, err := f(1)
		if !errors.Is(err, pcache.ErrConfig) || !strings.Contains(err.Error(), "PCACHE_MODE") || !strings.Contains(err.Error(), "error_on_miss") {
			t.Fatalf("MemoErr under PCACHE_MODE=error_on_miss: %v, want ErrConfig naming the variable and value", err)
		}
		if strings.Count(err.Error(), "pcache:") != 1 {
			t.Fatalf("error %q: want one pcache: prefix", err)
		}
		if n.Load() != 0 {
			t.Fatalf("computed %d times under a configuration error", n.Load())
		}
	})
	t.Run("PCACHE_MODE typo, Memo", func(t *testing.T) {
		useDefault(t)
		t.Setenv("PCACHE_MODE", "error_on_miss")
		f := pcache.Memo("config/memo", func(x int) int { return x })
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(r.(string), "PCACHE_MODE") {
				t.Fatalf("Memo under PCACHE_MODE=error_on_miss: recovered %v, want a panic naming the variable", r)
			}
		}()
		f(1)
	})
	t.Run("PCACHE_MODE typo, Open", func(t *testing.T) {
		t.Setenv("PCACHE_MODE", "error_on_miss")
		if _, err := pcache.Open(t.TempDir()); !errors.Is(err, pcache.ErrConfig) {
			t.Fatalf("Open: %v, want ErrConfig", err)
		}
	})
	for _, env := range []struct{ name, remote, mode string }{
		{"malformed PCACHE_REMOTE", "s4://bucket/prefix", ""},
		{"PCACHE_REMOTE_MODE typo", "file://" + t.TempDir(), "readonly"},
	} {
		t.Run(env.name, func(t *testing.T) {
			useDefault(t)
			t.Setenv("PCACHE_REMOTE", env.remote)
			t.Setenv("PCACHE_REMOTE_MODE", env.mode)
			var logs bytes.Buffer
			old := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
			defer slog.SetDefault(old)
			var n atomic.Int64
			f := pcache.MemoErr("config/remote", func(x int) (int, error) { n.Add(1); return x, nil })
			for range 3 {
				if v, err := f(7); err != nil || v != 7 {
					t.Fatalf("call: %d, %v", v, err)
				}
			}
			if n.Load() != 1 {
				t.Fatalf("computed %d times: a bad remote setting turned the local cache off", n.Load())
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "remote is off") {
				t.Fatalf("nothing logged at error level:\n%s", logs.String())
			}
		})
	}
}
