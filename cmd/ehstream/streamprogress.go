package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ehstream/ehstream/streaming"
)

// idleLineInterval is the least time between two lines of `ehstream stream`
// while its batches read nothing.
const idleLineInterval = 30 * time.Second

// idleLineEvery is idleLineInterval; tests shorten it.
var idleLineEvery = idleLineInterval

// batchReporter is what `ehstream stream` says about its batches: a line
// for each batch that read events (or lost some to retention, or ran again
// after a restart), and while the batches read nothing at most one line
// every idleLineEvery, "idle: N empty batches, lag L", N counting the empty
// batches since the last line. With JSON logs it writes records instead.
type batchReporter struct {
	out   io.Writer    // the lines (text)
	log   *slog.Logger // or the records (JSON), when not nil
	every time.Duration
	last  time.Time // when the last line was printed
	idle  int       // empty batches since
	lag   int64     // the last one's lag
}

// newBatchReporter starts counting at start, when the command printed its
// last line before the first batch.
func newBatchReporter(out io.Writer, log *slog.Logger, start time.Time) *batchReporter {
	return &batchReporter{out: out, log: log, every: idleLineEvery, last: start}
}

// emptyBatch tells a batch that read nothing and has nothing else to say,
// the batch that --until-idle stops after.
func emptyBatch(b streaming.BatchInfo) bool {
	return b.Events == 0 && b.Skipped == 0 && !b.Replay
}

// OnBatchCompleted reports b; the stream calls it after each batch.
func (r *batchReporter) OnBatchCompleted(b streaming.BatchInfo) {
	end := b.Time.Add(b.SchedulingDelay + b.ProcessingTime)
	if emptyBatch(b) {
		r.idle++
		r.lag = b.TotalLag()
		if end.Sub(r.last) >= r.every {
			r.flush(end)
		}
		return
	}
	if r.log != nil {
		streaming.LogBatch(r.log, b)
	} else {
		progress(r.out, b)
	}
	r.last, r.idle = end, 0
}

// flush says how many empty batches ran since the last line, if any: when
// idleLineEvery has passed, and when the stream stops.
func (r *batchReporter) flush(now time.Time) {
	if r.idle == 0 {
		return
	}
	if r.log != nil {
		r.log.Info("streaming: idle", "emptyBatches", r.idle, "lag", r.lag)
	} else {
		batches := "batches"
		if r.idle == 1 {
			batches = "batch"
		}
		fmt.Fprintf(r.out, "idle: %d empty %s, lag %d\n", r.idle, batches, r.lag)
	}
	r.last, r.idle = now, 0
}
