package streaming

import (
	"fmt"
	"time"
)

// PID holds the settings of a PIDRateEstimator: Spark Streaming's
// spark.streaming.backpressure.pid.* settings.
type PID struct {
	// Proportional is how much the correction depends on the latest error
	// (Spark's default 1.0).
	Proportional float64
	// Integral is how much it depends on the accumulated error, which the
	// scheduling delay measures (default 0.2).
	Integral float64
	// Derivative is how much it depends on the error's rate of change
	// (default 0).
	Derivative float64
	// MinRate is the lowest rate the estimator gives, in events per second
	// (default 100): a stream always reads something, so that it keeps
	// measuring how fast it processes.
	MinRate float64
}

// DefaultPID is Spark's: proportional 1.0, integral 0.2, derivative 0,
// at least 100 events per second.
func DefaultPID() PID { return PID{Proportional: 1, Integral: 0.2, Derivative: 0, MinRate: 100} }

// Validate explains a bad setting.
func (p PID) Validate() error {
	switch {
	case p.Proportional < 0:
		return fmt.Errorf("streaming: PID proportional %g: want 0 or more", p.Proportional)
	case p.Integral < 0:
		return fmt.Errorf("streaming: PID integral %g: want 0 or more", p.Integral)
	case p.Derivative < 0:
		return fmt.Errorf("streaming: PID derivative %g: want 0 or more", p.Derivative)
	case !(p.MinRate > 0):
		return fmt.Errorf("streaming: PID minimum rate %g events/s: want more than 0", p.MinRate)
	}
	return nil
}

// PIDRateEstimator is Spark Streaming's PIDRateEstimator: from each
// completed batch it estimates the rate, in events per second, at which
// the stream can read without falling behind. The error is the difference
// between the rate it estimated last and the batch's processing rate
// (events / processing time); the accumulated error is the scheduling
// delay's worth of events at the processing rate, spread over a batch
// interval:
//
//	processingRate  = events / processingTime
//	error           = latestRate - processingRate
//	historicalError = schedulingDelay * processingRate / batchInterval
//	dError          = (error - latestError) / (time since the last estimate)
//	rate            = max(latestRate - P*error - I*historicalError - D*dError, MinRate)
//
// The first batch only sets latestRate to its processing rate. A
// PIDRateEstimator is not safe for concurrent use.
type PIDRateEstimator struct {
	interval    time.Duration
	pid         PID
	first       bool
	latestTime  time.Time
	latestRate  float64
	latestError float64
	estimated   bool // Compute has returned a rate
}

// NewPIDRateEstimator returns an estimator for a stream whose batches are
// due every batchInterval.
func NewPIDRateEstimator(batchInterval time.Duration, pid PID) (*PIDRateEstimator, error) {
	if batchInterval <= 0 {
		return nil, fmt.Errorf("streaming: batch interval %s: must be positive", batchInterval)
	}
	if err := pid.Validate(); err != nil {
		return nil, err
	}
	return &PIDRateEstimator{interval: batchInterval, pid: pid, first: true, latestRate: -1, latestError: -1}, nil
}

// Compute takes a completed batch: when its processing ended, how many
// events it processed, how long that took, and how late it started. It
// returns the new rate in events per second, and false when it makes no
// estimate: for the first batch, a batch without events or processing
// time, or one that ended no later than the last it took.
func (e *PIDRateEstimator) Compute(end time.Time, events int64, processingTime, schedulingDelay time.Duration) (float64, bool) {
	if events <= 0 || processingTime <= 0 || (!e.first && !end.After(e.latestTime)) {
		return 0, false
	}
	sinceUpdate := end.Sub(e.latestTime).Seconds()                                  // about the batch interval
	processingRate := float64(events) / processingTime.Seconds()                    // events/s
	errRate := e.latestRate - processingRate                                        // events/s
	historical := schedulingDelay.Seconds() * processingRate / e.interval.Seconds() // events/s
	dError := (errRate - e.latestError) / sinceUpdate                               // events/s²
	rate := max(e.latestRate-e.pid.Proportional*errRate-e.pid.Integral*historical-e.pid.Derivative*dError, e.pid.MinRate)
	e.latestTime = end
	if e.first {
		e.first = false
		e.latestRate, e.latestError = processingRate, 0
		return 0, false
	}
	e.latestRate, e.latestError, e.estimated = rate, errRate, true
	return rate, true
}

// Rate is the latest rate Compute returned, and false before it returned
// one.
func (e *PIDRateEstimator) Rate() (float64, bool) { return e.latestRate, e.estimated }
