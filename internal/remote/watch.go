package remote

import (
	"sync"
	"sync/atomic"
	"time"
)

// The watcher keeps the mirrors of the functions this process serves
// current while it only hits locally: a local hit never asks the remote,
// so without it a removal published elsewhere (Forget, ForgetAll, a
// refresh) would reach a long-running process only at its next miss. Every
// Options.Refresh it refreshes the index of each function used since the
// last round (Used), so idle functions cost no request, and Options.Apply
// applies what arrived. A removal thus reaches every machine's next call
// within the publisher's upload plus about two Refresh periods.
type watcher struct {
	t       *Tier
	mu      sync.Mutex
	fns     map[string]*atomic.Bool
	started bool
	stopped bool
	quit    chan struct{}
	done    chan struct{}
}

func newWatcher(t *Tier) *watcher {
	return &watcher{t: t, fns: map[string]*atomic.Bool{}, quit: make(chan struct{}), done: make(chan struct{})}
}

// Used returns the flag a caller sets (cheaply: load first, store when
// clear) on each local hit of function name, starting the watcher on first
// use.
func (t *Tier) Used(name string) *atomic.Bool {
	w := t.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.fns[name]
	if f == nil {
		f = new(atomic.Bool)
		w.fns[name] = f
	}
	if !w.started && !w.stopped {
		w.started = true
		go w.run()
	}
	return f
}

func (w *watcher) run() {
	defer close(w.done)
	tick := time.NewTicker(w.t.opts.Refresh)
	defer tick.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-tick.C:
		}
		w.mu.Lock()
		var names []string
		for n, f := range w.fns {
			if f.Swap(false) {
				names = append(names, n)
			}
		}
		w.mu.Unlock()
		for _, n := range names {
			select {
			case <-w.quit:
				return
			default:
			}
			if fi, err := w.t.index(n); err == nil {
				fi.refresh(w.t.bg, false)
			}
		}
	}
}

// stop ends the watcher and waits for a refresh in progress.
func (w *watcher) stop() {
	w.mu.Lock()
	started := w.started
	if !w.stopped {
		w.stopped = true
		close(w.quit)
	}
	w.mu.Unlock()
	if started {
		<-w.done
	}
}
