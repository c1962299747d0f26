package monitor

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Bar is a progress bar of a bounded read, for a terminal: the events
// read of all, the rate, and the time taken and left, on one line
// redrawn at most ten times a second, as `ehstream read` shows it. A nil
// *Bar shows nothing, so a caller that decides against a bar passes
// nil's Add along all the same.
type Bar struct{ bar *progressbar.ProgressBar }

// NewBar is a bar on w (a terminal) for total events.
func NewBar(w io.Writer, total int64) *Bar {
	return &Bar{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("reading"),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetWidth(30), // narrower on a narrower terminal
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
}

// Add counts n more events read.
func (b *Bar) Add(n int) {
	if b != nil && n > 0 {
		b.bar.Add(n)
	}
}

// Stop ends the bar's line where the bar stands, if it did not end full
// (an error, or events gone to retention): what follows on the terminal
// starts on a line of its own.
func (b *Bar) Stop() {
	if b != nil && !b.bar.IsFinished() {
		b.bar.Exit()
	}
}

// IsTerminal tells whether w is a terminal, where a Bar belongs: a writer
// with an IsTerminal method says so itself (a test's stand-in for one),
// and a file (os.Stderr) is asked with term.IsTerminal.
func IsTerminal(w io.Writer) bool {
	switch w := w.(type) {
	case interface{ IsTerminal() bool }:
		return w.IsTerminal()
	case interface{ Fd() uintptr }:
		return term.IsTerminal(int(w.Fd()))
	}
	return false
}
