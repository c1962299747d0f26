package streaming

import (
	"log/slog"
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
	Lag             []int64
	Events          int64         // events handed to the outputs
	Skipped         int64         // events found lost (retention) and skipped
	SchedulingDelay time.Duration // from Time to the start of the batch
	ProcessingTime  time.Duration // from the start of the batch to its end

	// Rate is the rate in force, in events per second: what backpressure
	// allowed the batch, summed over the inputs that limited it; 0 when
	// none did (no backpressure, or no estimate yet).
	Rate int64
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

// ListenerFunc makes a function a Listener.
type ListenerFunc func(BatchInfo)

func (f ListenerFunc) OnBatchCompleted(b BatchInfo) { f(b) }

// logListener is the default listener: one line per batch.
type logListener struct{ log *slog.Logger }

func (l logListener) OnBatchCompleted(b BatchInfo) {
	attrs := []any{
		"batch", b.Number, "time", b.Time.UTC().Format(time.RFC3339Nano), "events", b.Events,
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
		l.log.Warn("streaming: batch done, events lost to retention were skipped", append(attrs, "skipped", b.Skipped)...)
		return
	}
	l.log.Info("streaming: batch done", attrs...)
}
