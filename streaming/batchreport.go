package streaming

import (
	"log/slog"
	"time"
)

// DefaultIdleEvery is the least time between two reports of a stream's
// empty batches, unless BatchReporterOptions.IdleEvery says otherwise.
const DefaultIdleEvery = 30 * time.Second

// EmptyBatch tells a batch that read nothing and has nothing else to say
// (no events lost to retention, not a replay): a BatchReporter counts it
// into its next report of idle batches instead of reporting it.
func EmptyBatch(b BatchInfo) bool {
	return b.Events == 0 && b.Skipped == 0 && !b.Replay
}

// BatchReporterOptions are a BatchReporter's options; nil means defaults.
type BatchReporterOptions struct {
	// IdleEvery is the least time between two reports while the batches
	// read nothing. 0 means DefaultIdleEvery.
	IdleEvery time.Duration
	// Start is when the report before the first batch was made, where the
	// first idle period starts. The zero time means when
	// NewBatchReporter runs.
	Start time.Time
}

// BatchReporter says how a stream is doing without repeating itself: each
// batch that read events (or lost some to retention, or ran again after a
// restart) is reported, and while the batches read nothing, one report at
// most every IdleEvery counts the empty batches since the report before.
// A stream idle for hours thus says so a few lines an hour, not one a
// batch. It is a Listener; Flush reports the empty batches not yet
// reported, when the stream stops.
//
// The default batch log of a Context is a BatchReporter that logs with
// LogBatch and LogIdle; package monitor's Progress prints lines with it.
// It is not safe for concurrent use: a Context tells its listeners from
// one goroutine, and Flush belongs after Run returns.
type BatchReporter struct {
	batch func(BatchInfo)
	idle  func(emptyBatches int, lag int64)
	every time.Duration
	last  time.Time // when the last report was made
	empty int       // empty batches since
	lag   int64     // the last one's lag
}

// NewBatchReporter reports each batch worth a report with batch, and the
// empty batches with idle, which gets how many ran since the last report
// and the last one's total lag.
func NewBatchReporter(batch func(BatchInfo), idle func(emptyBatches int, lag int64), opts *BatchReporterOptions) *BatchReporter {
	if opts == nil {
		opts = &BatchReporterOptions{}
	}
	r := &BatchReporter{batch: batch, idle: idle, every: opts.IdleEvery, last: opts.Start}
	if r.every <= 0 {
		r.every = DefaultIdleEvery
	}
	if r.last.IsZero() {
		r.last = time.Now()
	}
	return r
}

// OnBatchCompleted reports b, or counts it when it is empty and the last
// report was less than IdleEvery ago (by the batch's end).
func (r *BatchReporter) OnBatchCompleted(b BatchInfo) {
	end := b.Time.Add(b.SchedulingDelay + b.ProcessingTime)
	if EmptyBatch(b) {
		r.empty++
		r.lag = b.TotalLag()
		if end.Sub(r.last) >= r.every {
			r.Flush(end)
		}
		return
	}
	r.batch(b)
	r.last, r.empty = end, 0
}

// Flush reports the empty batches since the last report, if any, at now:
// the reporter does when IdleEvery has passed, and its user when the
// stream stops.
func (r *BatchReporter) Flush(now time.Time) {
	if r.empty == 0 {
		return
	}
	r.idle(r.empty, r.lag)
	r.last, r.empty = now, 0
}

// LogIdle writes the default batch log's record of empty batches to log:
// "streaming: idle" with emptyBatches, how many ran since the record
// before, and lag, the last one's total lag.
func LogIdle(log *slog.Logger, emptyBatches int, lag int64) {
	log.Info("streaming: idle", "emptyBatches", emptyBatches, "lag", lag)
}

// NewBatchLog is the default batch log of a Context, a BatchReporter
// logging to log with LogBatch and LogIdle: a program that turns it off
// (NoBatchLog) to add it with options of its own, or to a logger of its
// own, adds this.
func NewBatchLog(log *slog.Logger, opts *BatchReporterOptions) *BatchReporter {
	return NewBatchReporter(func(b BatchInfo) { LogBatch(log, b) },
		func(n int, lag int64) { LogIdle(log, n, lag) }, opts)
}
