package main

import (
	"io"

	"github.com/ehstream/ehstream/monitor"
)

// readBarMin is how many events `ehstream read` must have to read before
// it shows a progress bar.
const readBarMin = 10_000

// showReadBar decides whether read shows a progress bar on stderr: for
// more than readBarMin events, when stderr is a terminal and the logs are
// text. Not when stdout is a terminal too: the events scrolling past would
// break the bar's line, and they show the progress themselves.
func showReadBar(events int64, stdout, stderr io.Writer, jsonLogs bool) bool {
	return events > readBarMin && !jsonLogs && monitor.IsTerminal(stderr) && !monitor.IsTerminal(stdout)
}
