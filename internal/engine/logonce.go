package engine

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// repeatEvery is how often a warning that keeps recurring is logged again,
// with the count of the times it was held back.
const repeatEvery = time.Minute

// maxDistinct bounds the warnings remembered; past it, new ones are logged
// every time (never dropped).
const maxDistinct = 4096

// onceLogger wraps l so that each distinct warning or error (its message
// and the function, operation and directory it names; not the error text,
// the key or a temp file name, which vary) is logged once, then at most
// once per repeatEvery with the count of the times it recurred meanwhile.
// A damaged journal met at every refresh, or a full disk met by every call,
// is said once, not dozens of times a second. Debug and info records pass.
func onceLogger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(*onceHandler); ok {
		return l
	}
	return slog.New(&onceHandler{next: l.Handler(), st: &onceState{seen: map[string]*seenWarning{}, now: time.Now}})
}

type onceHandler struct {
	next  slog.Handler
	st    *onceState
	scope string // from WithAttrs and WithGroup: part of the identity
}

type onceState struct {
	mu   sync.Mutex
	seen map[string]*seenWarning
	now  func() time.Time // time.Now; tests set it
}

type seenWarning struct {
	last time.Time
	held int
}

// identityAttrs are the attributes that tell one problem from another.
var identityAttrs = map[string]bool{"function": true, "op": true, "dir": true, "remote": true}

func (h *onceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *onceHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	var b strings.Builder
	b.WriteString(h.scope)
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if identityAttrs[a.Key] {
			b.WriteString("\x00" + a.Key + "=" + a.Value.String())
		}
		return true
	})
	key, now := b.String(), h.st.now()
	h.st.mu.Lock()
	w := h.st.seen[key]
	held := 0
	switch {
	case w == nil:
		if len(h.st.seen) < maxDistinct {
			h.st.seen[key] = &seenWarning{last: now}
		}
	case now.Sub(w.last) < repeatEvery:
		w.held++
		h.st.mu.Unlock()
		return nil
	default:
		held, w.held, w.last = w.held, 0, now
	}
	h.st.mu.Unlock()
	if held > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeated", held), slog.Duration("within", repeatEvery))
	}
	return h.next.Handle(ctx, r)
}

func (h *onceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	scope := h.scope
	for _, a := range as {
		scope += a.String() + "\x00"
	}
	return &onceHandler{next: h.next.WithAttrs(as), st: h.st, scope: scope}
}

func (h *onceHandler) WithGroup(name string) slog.Handler {
	return &onceHandler{next: h.next.WithGroup(name), st: h.st, scope: h.scope + name + "\x01"}
}
