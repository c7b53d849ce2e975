package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/pcache/pcache/internal/maintain"
)

type noopCounter struct{}

func (noopCounter) Add(int64) {}
func (noopCounter) Done()     {}

// barProgress is the maintain.Progress of the command line.
type barProgress struct{ stderr io.Writer }

func (b barProgress) Start(what string, total int64, bytes bool) maintain.Counter {
	return newCounter(b.stderr, what, total, bytes)
}

// Work smaller than these never gets a bar: it finishes before one helps.
const (
	barMinBytes = 512 << 20
	barMinItems = 20000
)

// isTerminal reports whether w is a terminal (only *os.File can be).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newCounter returns a progress bar on stderr when stderr is a terminal and
// the work (total bytes, or items when bytes is false) is long enough to
// deserve one; otherwise a counter that draws nothing. Nothing is ever drawn
// on stdout, so output stays grep-able and -json stays parseable.
func newCounter(stderr io.Writer, desc string, total int64, bytes bool) maintain.Counter {
	if !isTerminal(stderr) {
		return noopCounter{}
	}
	if (bytes && total < barMinBytes) || (!bytes && total < barMinItems) {
		return noopCounter{}
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowCount(),
		progressbar.OptionFullWidth(),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionUseIECUnits(true))
	}
	return &barCounter{bar: progressbar.NewOptions64(total, opts...)}
}

type barCounter struct{ bar *progressbar.ProgressBar }

func (b *barCounter) Add(n int64) { _ = b.bar.Add64(n) }
func (b *barCounter) Done()       { _ = b.bar.Finish() }
