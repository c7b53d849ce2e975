package engine

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestOnceLogger: a warning that recurs is logged once, then once per
// repeatEvery with the count of the times it was held back; distinct
// problems (another message, another function) are each logged; info
// passes every time.
func TestOnceLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := onceLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	st := l.Handler().(*onceHandler).st
	now := time.Unix(1e9, 0)
	st.now = func() time.Time { return now }
	for i := range 50 {
		l.Warn("pcache: result computed but not stored", "function", "f", "key", fmt.Sprint(i), "err", errors.New(fmt.Sprint("disk full ", i)))
	}
	l.Warn("pcache: result computed but not stored", "function", "g", "err", "disk full")
	l.Warn("pcache: manifest f: damage skipped: j1: torn-tail")
	l.Warn("pcache: manifest f: damage skipped: j2: torn-tail")
	for range 3 {
		l.Info("pcache: automatic trim")
	}
	lines := func() []string { return strings.Split(strings.TrimSpace(buf.String()), "\n") }
	if got := len(lines()); got != 7 {
		t.Fatalf("%d lines, want 1+1+2 warnings and 3 infos:\n%s", got, buf.String())
	}
	now = now.Add(repeatEvery)
	buf.Reset()
	l.Warn("pcache: result computed but not stored", "function", "f", "err", "disk full again")
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "repeated=49") {
		t.Fatalf("after a minute: %q, want one line with repeated=49", got)
	}
	buf.Reset()
	l.With("function", "h").Warn("pcache: x")
	l.With("function", "h").Warn("pcache: x")
	if got := lines(); len(got) != 1 {
		t.Fatalf("a derived logger logged %d lines, want 1", len(got))
	}
}
