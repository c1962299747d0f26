package eventhubs

import (
	"math"
	"sync"
	"time"

	"github.com/ehstream/ehstream/streaming"
)

// SetBackpressure makes a direct stream adapt its rate to how fast its
// batches are processed, as Spark's spark.streaming.backpressure.enabled:
// after each completed batch a PID rate estimator (SetBackpressurePID)
// computes the rate, in events per second, at which batches finish
// within the interval, from the batch's events, processing time and
// scheduling delay. The next batch reads that rate times the batch
// interval, split across the partitions by their lag and capped by each
// partition's MaxRatesPerPartition or MaxRatePerPartition. Until the
// second batch completes, the caps alone limit a batch. The rate in force
// is in each batch's streaming.BatchInfo.Rate. Default off.
func (c *Conf) SetBackpressure(enabled bool) *Conf { c.backpressure = enabled; return c }

// SetBackpressurePID sets the estimator's gains and its lowest rate, in
// events per second across the stream's partitions (Spark's
// spark.streaming.backpressure.pid.*; default streaming.DefaultPID():
// 1.0, 0.2, 0 and 100). The gains are 0 or more, minRate at least 1.
func (c *Conf) SetBackpressurePID(proportional, integral, derivative float64, minRate int64) *Conf {
	c.pid = streaming.PID{Proportional: proportional, Integral: integral, Derivative: derivative, MinRate: float64(minRate)}
	return c
}

// Backpressure says whether a direct stream adapts its rate.
func (c *Conf) Backpressure() bool { return c.backpressure }

// BackpressurePID is the rate estimator's settings.
func (c *Conf) BackpressurePID() streaming.PID { return c.pid }

// Bounds of the backpressure settings, far beyond any useful value.
const (
	backpressureMaxGain  = 1e6
	backpressureMaxFloor = 1 << 40
)

// rateController is a direct stream's backpressure: it hears of completed
// batches (a listener on the stream's Context), estimates the rate, and
// sets how many events each partition's range of the next batch may hold.
type rateController struct {
	interval time.Duration

	mu  sync.Mutex
	est *streaming.PIDRateEstimator
	// ran is the batch whose output this stream ran last, and the events
	// it handed out: a batch the stream did not run (skipped for being
	// empty) estimates nothing.
	ranBatch, ranEvents int64
}

func newRateController(interval time.Duration, pid streaming.PID) (*rateController, error) {
	est, err := streaming.NewPIDRateEstimator(interval, pid)
	if err != nil {
		return nil, err
	}
	return &rateController{interval: interval, est: est}, nil
}

// ran records what the stream's outputs got of batch number.
func (rc *rateController) ran(number, events int64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.ranBatch, rc.ranEvents = number, events
}

// OnBatchCompleted feeds the estimator with a batch the stream ran.
func (rc *rateController) OnBatchCompleted(b streaming.BatchInfo) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if b.Number != rc.ranBatch {
		return
	}
	end := b.Time.Add(b.SchedulingDelay + b.ProcessingTime)
	rc.est.Compute(end, rc.ranEvents, b.ProcessingTime, b.SchedulingDelay)
}

// limits is how many events each partition may read in the next batch:
// the estimated rate times the batch interval, split by lag (events
// waiting past where the partition's range starts), each partition at
// most its cap and, while it has lag, at least one event. It returns nil,
// 0 before there is an estimate; else the limits and the rate in force.
func (rc *rateController) limits(ids []string, lag []int64, caps []int64) ([]int64, int64) {
	rc.mu.Lock()
	rate, ok := rc.est.Rate()
	rc.mu.Unlock()
	if !ok {
		return nil, 0
	}
	var total int64
	for _, l := range lag {
		total += max(l, 0)
	}
	perBatch := rate * rc.interval.Seconds()
	out := make([]int64, len(ids))
	for i := range ids {
		if lag[i] <= 0 || total == 0 {
			out[i] = caps[i] // nothing to read: the cap changes nothing
			continue
		}
		share := int64(math.Round(float64(lag[i]) / float64(total) * perBatch))
		out[i] = min(max(share, 1), caps[i])
	}
	return out, int64(math.Round(rate))
}

// batchLimits is how many events the next batch may read from each of the
// partitions: their caps (MaxRatesPerPartition, MaxRatePerPartition), or
// less under backpressure; and the rate in force, 0 when only the caps
// limit the batch.
func (s *DirectStream) batchLimits(parts []PartitionBounds) (limit func(id string) int64, rate int64) {
	if s.rc == nil {
		return s.conf.RateFor, 0
	}
	ids := make([]string, len(parts))
	lag, caps := make([]int64, len(parts)), make([]int64, len(parts))
	for i, b := range parts {
		ids[i], caps[i] = b.PartitionID, s.conf.RateFor(b.PartitionID)
		from, ok := s.next[b.PartitionID]
		if !ok || from > b.End { // a new partition, or restarted numbering: read from its first event
			from = b.First
		}
		lag[i] = b.End - max(from, b.First)
	}
	limits, rate := s.rc.limits(ids, lag, caps)
	if limits == nil {
		return s.conf.RateFor, 0
	}
	byID := make(map[string]int64, len(ids))
	for i, id := range ids {
		byID[id] = limits[i]
	}
	return func(id string) int64 {
		if l, ok := byID[id]; ok {
			return l
		}
		return s.conf.RateFor(id)
	}, rate
}
