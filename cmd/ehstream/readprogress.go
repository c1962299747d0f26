package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// readBarMin is how many events `ehstream read` must have to read before
// it shows a progress bar.
const readBarMin = 10_000

// terminalWriter is a writer that says whether it is a terminal: the tests'
// stand-in for one.
type terminalWriter interface {
	io.Writer
	IsTerminal() bool
}

// isTerminal tells whether w is a terminal: a terminalWriter says so, and
// a file (os.Stderr) is asked with term.IsTerminal.
func isTerminal(w io.Writer) bool {
	switch w := w.(type) {
	case terminalWriter:
		return w.IsTerminal()
	case interface{ Fd() uintptr }:
		return term.IsTerminal(int(w.Fd()))
	}
	return false
}

// showReadBar decides whether read shows a progress bar on stderr: for
// more than readBarMin events, when stderr is a terminal and the logs are
// text. Not when stdout is a terminal too: the events scrolling past would
// break the bar's line, and they show the progress themselves.
func showReadBar(events int64, stdout, stderr io.Writer, jsonLogs bool) bool {
	return events > readBarMin && !jsonLogs && isTerminal(stderr) && !isTerminal(stdout)
}

// readBar is read's progress bar: events read of all, the rate, and the
// time taken and left. A nil *readBar shows nothing.
type readBar struct{ bar *progressbar.ProgressBar }

func newReadBar(w io.Writer, events int64) *readBar {
	return &readBar{bar: progressbar.NewOptions64(events,
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

// add counts n more events read.
func (b *readBar) add(n int) {
	if b != nil && n > 0 {
		b.bar.Add(n)
	}
}

// stop ends the bar's line where the bar stands, if it did not end full
// (an error, or events gone to retention): what follows on stderr starts
// on a line of its own.
func (b *readBar) stop() {
	if b != nil && !b.bar.IsFinished() {
		b.bar.Exit()
	}
}
