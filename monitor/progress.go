package monitor

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ehstream/ehstream/streaming"
)

// DefaultIdleEvery is ProgressOptions.IdleEvery's default.
const DefaultIdleEvery = 30 * time.Second

// ProgressOptions are a Progress's options; the zero value is the default.
type ProgressOptions struct {
	// Logger, when set, gets records instead of lines: streaming.LogBatch's
	// for a batch, and "streaming: idle" with emptyBatches and lag.
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
// ContextOptions.NoBatchLog to leave out the default line a batch); Flush
// says the rest when the stream stops.
type Progress struct {
	out   io.Writer    // the lines
	log   *slog.Logger // or the records, when not nil
	every time.Duration
	last  time.Time // when the last line was written
	idle  int       // empty batches since
	lag   int64     // the last one's lag
}

// NewProgress writes a stream's progress to w; opts may be nil.
func NewProgress(w io.Writer, opts *ProgressOptions) *Progress {
	if opts == nil {
		opts = &ProgressOptions{}
	}
	p := &Progress{out: w, log: opts.Logger, every: opts.IdleEvery, last: opts.Start}
	if p.every <= 0 {
		p.every = DefaultIdleEvery
	}
	if p.last.IsZero() {
		p.last = time.Now()
	}
	return p
}

// EmptyBatch tells a batch that read nothing and has nothing else to say:
// Progress counts it into an idle line.
func EmptyBatch(b streaming.BatchInfo) bool {
	return b.Events == 0 && b.Skipped == 0 && !b.Replay
}

// OnBatchCompleted reports b.
func (p *Progress) OnBatchCompleted(b streaming.BatchInfo) {
	end := b.Time.Add(b.SchedulingDelay + b.ProcessingTime)
	if EmptyBatch(b) {
		p.idle++
		p.lag = b.TotalLag()
		if end.Sub(p.last) >= p.every {
			p.Flush(end)
		}
		return
	}
	if p.log != nil {
		streaming.LogBatch(p.log, b)
	} else {
		fmt.Fprintln(p.out, BatchLine(b))
	}
	p.last, p.idle = end, 0
}

// Flush says how many empty batches ran since the last line, if any, at
// now: Progress does when IdleEvery has passed, and its user when the
// stream stops.
func (p *Progress) Flush(now time.Time) {
	if p.idle == 0 {
		return
	}
	if p.log != nil {
		p.log.Info("streaming: idle", "emptyBatches", p.idle, "lag", p.lag)
	} else {
		batches := "batches"
		if p.idle == 1 {
			batches = "batch"
		}
		fmt.Fprintf(p.out, "idle: %d empty %s, lag %d\n", p.idle, batches, p.lag)
	}
	p.last, p.idle = now, 0
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
