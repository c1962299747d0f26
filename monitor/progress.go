package monitor

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ehstream/ehstream/streaming"
)

// DefaultIdleEvery is ProgressOptions.IdleEvery's default.
const DefaultIdleEvery = streaming.DefaultIdleEvery

// ProgressOptions are a Progress's options; the zero value is the default.
type ProgressOptions struct {
	// Logger, when set, gets records instead of lines: streaming.LogBatch's
	// for a batch, and streaming.LogIdle's, "streaming: idle" with
	// emptyBatches and lag.
	Logger *slog.Logger
	// IdleEvery is the least time between two lines while the batches
	// read nothing. Default: DefaultIdleEvery.
	IdleEvery time.Duration
	// Start is when the last line before the first batch was written,
	// where the first idle period starts. Default: when NewProgress runs.
	Start time.Time
}

// Progress says how a stream is doing, as `ehstream stream` does on its
// standard output: a line for each batch that read events (or lost some
// to retention, or ran again after a restart), and while the batches read
// nothing at most one line every IdleEvery, "idle: N empty batches, lag
// L", N counting the empty batches since the last line. It is a
// streaming.Listener (streaming.Context.AddListener, with
// ContextOptions.NoBatchLog to leave out the default batch log, which
// condenses batches alike: both are a streaming.BatchReporter); Flush
// says the rest when the stream stops.
type Progress struct {
	*streaming.BatchReporter
}

// NewProgress writes a stream's progress to w; opts may be nil.
func NewProgress(w io.Writer, opts *ProgressOptions) *Progress {
	if opts == nil {
		opts = &ProgressOptions{}
	}
	ropts := &streaming.BatchReporterOptions{IdleEvery: opts.IdleEvery, Start: opts.Start}
	if opts.Logger != nil {
		return &Progress{streaming.NewBatchLog(opts.Logger, ropts)}
	}
	return &Progress{streaming.NewBatchReporter(func(b streaming.BatchInfo) { fmt.Fprintln(w, BatchLine(b)) },
		func(n int, lag int64) { fmt.Fprintln(w, IdleLine(n, lag)) }, ropts)}
}

// IdleLine is the line of n empty batches, the last with lag: "idle: N
// empty batches, lag L".
func IdleLine(n int, lag int64) string {
	batches := "batches"
	if n == 1 {
		batches = "batch"
	}
	return fmt.Sprintf("idle: %d empty %s, lag %d", n, batches, lag)
}

// BatchLine is the line of a batch: "batch N: E events, lag L, at
// 15:04:05.000, took D", with its delay, rate limit, events lost to
// retention and replay when there are any.
func BatchLine(b streaming.BatchInfo) string {
	line := fmt.Sprintf("batch %d: %d events, lag %d, at %s, took %s", b.Number, b.Events, b.TotalLag(),
		b.Time.Format("15:04:05.000"), b.ProcessingTime.Round(time.Millisecond))
	if b.SchedulingDelay >= 10*time.Millisecond {
		line += fmt.Sprintf(", started %s late", b.SchedulingDelay.Round(time.Millisecond))
	}
	if b.Rate > 0 {
		line += fmt.Sprintf(", rate limit %d/s", b.Rate)
	}
	if b.Skipped > 0 {
		line += fmt.Sprintf(", %d LOST to retention and skipped", b.Skipped)
	}
	if b.Replay {
		line += " (replayed after a restart)"
	}
	return line
}
