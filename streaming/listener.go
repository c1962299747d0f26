package streaming

import (
	"log/slog"
	"slices"
	"time"
)

// BatchInfo is the record of one completed batch.
type BatchInfo struct {
	Number int64
	Time   time.Time // when the batch was due
	Replay bool      // a batch that had not finished before a restart, run again
	Ranges []Range   // every input's ranges
	// Lag[i] is how many events of Ranges[i]'s partition existed past its
	// Until when the batch was planned (zero for a replayed batch).
	Lag     []int64
	Events  int64 // events handed to the outputs
	Skipped int64 // events found lost (retention) and skipped
	// RangeSkipped[i] is how many of Skipped were Ranges[i]'s (zero for the
	// ranges of an input that does not say, as inputs written before it did
	// not).
	RangeSkipped    []int64
	SchedulingDelay time.Duration // from Time to the start of the batch
	ProcessingTime  time.Duration // from the start of the batch to its end

	// Rate is the rate in force, in events per second: what backpressure
	// allowed the batch, summed over the inputs that limited it; 0 when
	// none did (no backpressure, or no estimate yet).
	Rate int64

	// Outputs is the time each output of the batch ran, input by input:
	// those an input runs through Batch.RunOutput and the ForeachBatch
	// outputs of its DStream pipeline. An input that runs its outputs
	// otherwise has none here; its time is in ProcessingTime only.
	Outputs []OutputTime
}

// OutputTime is the time one output of a batch ran, all the batch's
// attempts together (a retried batch runs again only the outputs that did
// not complete).
type OutputTime struct {
	// Input is the input's index, in the order the Context was given its
	// inputs.
	Input int
	// Output is the output's number among the input's, from 0: Batch.RunOutput's
	// i or, when Typed, the ForeachBatch's among its pipeline's, in the
	// order registered.
	Output int
	Typed  bool
	Took   time.Duration
}

// TotalLag is the sum of Lag.
func (b BatchInfo) TotalLag() int64 {
	var n int64
	for _, l := range b.Lag {
		n += l
	}
	return n
}

// Listener is told about every completed batch, in order, by the goroutine
// that runs the stream: a slow listener delays the next batch.
type Listener interface {
	OnBatchCompleted(BatchInfo)
}

// BatchFailure is the record of a batch that did not complete: its
// planning, checkpoint or output failed, or an input abandoned it.
type BatchFailure struct {
	Number int64
	Time   time.Time // when the batch was due
	Replay bool
	Ranges []Range // as planned; none when planning failed
	Lag    []int64 // as in BatchInfo
	Err    error
	// Attempt counts the batch's failures, from 1. Retrying says the
	// Context runs the batch again after a wait (ContextOptions.Retry);
	// otherwise a failed batch ends Run with Err.
	Attempt         int
	Retrying        bool
	SchedulingDelay time.Duration
	ProcessingTime  time.Duration // from the start of the batch to the failure
}

// BatchFailedListener is a Listener that is also told about every failed
// attempt of a batch, before the Context retries it or Run returns. A
// Listener need not implement it.
type BatchFailedListener interface {
	OnBatchFailed(BatchFailure)
}

// BatchAbandonedListener is a Listener that is also told about batches an
// input abandoned to plan them again (ErrReplan); the stream goes on. A
// Listener need not implement it.
type BatchAbandonedListener interface {
	OnBatchAbandoned(BatchFailure)
}

// ListenerFunc makes a function a Listener.
type ListenerFunc func(BatchInfo)

func (f ListenerFunc) OnBatchCompleted(b BatchInfo) { f(b) }

// LogBatch writes the default batch log's record of b to log: "streaming:
// batch done" with the batch's number, due time (batchTime: "time" is
// the record's own), events, lag, partitions, delays, the rate in force,
// and a warning when events lost to retention were skipped. A program
// that prints batches its own way (NoBatchLog) logs them alike with it.
func LogBatch(log *slog.Logger, b BatchInfo) {
	attrs := []any{
		"batch", b.Number, "batchTime", b.Time.UTC().Format(time.RFC3339Nano), "events", b.Events,
		"lag", b.TotalLag(), "partitions", len(b.Ranges),
		"schedulingDelay", b.SchedulingDelay.Round(time.Millisecond).String(),
		"processingTime", b.ProcessingTime.Round(time.Millisecond).String(),
	}
	if b.Rate > 0 {
		attrs = append(attrs, "rate", b.Rate)
	}
	if b.Replay {
		attrs = append(attrs, "replay", true)
	}
	if b.Skipped > 0 {
		log.Warn("streaming: batch done, events lost to retention were skipped", append(attrs, "skipped", b.Skipped)...)
		return
	}
	log.Info("streaming: batch done", attrs...)
}

// failure is info as a failure record.
func failure(info BatchInfo, err error, attempt int, retrying bool, begin time.Time) BatchFailure {
	return BatchFailure{Number: info.Number, Time: info.Time, Replay: info.Replay, Ranges: slices.Clone(info.Ranges),
		Lag: slices.Clone(info.Lag), Err: err, Attempt: attempt, Retrying: retrying,
		SchedulingDelay: info.SchedulingDelay, ProcessingTime: time.Since(begin)}
}

func (c *Context) listenersNow() []Listener {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.listeners)
}

// tellFailed tells the listeners that hear of failed batches.
func (c *Context) tellFailed(info BatchInfo, err error, attempt int, retrying bool, begin time.Time) {
	f := failure(info, err, attempt, retrying, begin)
	for _, l := range c.listenersNow() {
		if fl, ok := l.(BatchFailedListener); ok {
			fl.OnBatchFailed(f)
		}
	}
}

// tellAbandoned tells the listeners that hear of abandoned batches.
func (c *Context) tellAbandoned(info BatchInfo, err error, begin time.Time) {
	f := failure(info, err, 1, false, begin)
	for _, l := range c.listenersNow() {
		if al, ok := l.(BatchAbandonedListener); ok {
			al.OnBatchAbandoned(f)
		}
	}
}
