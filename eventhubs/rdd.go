package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// RDD is a bounded read of a set of offset ranges: the Spark connector's
// EventHubsRDD. Each range is one partition task, read by its own goroutine
// with events streamed to the caller, never loaded all at once (Collect
// excepted). An RDD can be read more than once; each read goes to the
// service again.
type RDD struct {
	conf    *Conf
	ranges  []OffsetRange
	skipped atomic.Int64
	// rangeSkipped is the last read's skipped events per range, for a
	// direct stream's per-partition metrics.
	mu           sync.Mutex
	rangeSkipped []int64
	// last holds, per partition, the offset of the range's last event once
	// a read handed it out: the checkpoint a stock processor starts after.
	last sync.Map
	// bounds, when set, are the partitions' bounds at planning time: a
	// direct stream's batch saves a management call per range.
	bounds map[string]PartitionBounds
	// batchTime is when a direct stream's batch was due; zero for CreateRDD.
	batchTime time.Time
	// onFirst, when set, hears the first event each read of a range
	// hands out: a direct stream's watch learns from it when the job's
	// oldest unread event was enqueued (DirectStream.WatchJob).
	onFirst func(partitionID string, seq int64, enqueued time.Time)
}

// CreateRDD checks conf and ranges and returns the RDD that reads them.
// Each range must name the conf's hub and an existing partition and end no
// later than the partition's last event + 1; a range that starts below the
// partition's first available event fails with CodeDataLoss when
// FailOnDataLoss is set. Nothing is read until ForeachPartition or Collect,
// which check the bounds again.
//
// Unless conf.SetExclusive(true), the RDD reads without an owner level, so
// that it never takes a partition from a running job; while a job holds
// the partitions of the conf's consumer group, the read fails with
// CodeOwnershipLost, and the job goes on. Read with another consumer group.
func CreateRDD(ctx context.Context, conf *Conf, ranges []OffsetRange) (*RDD, error) {
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	conf = conf.Clone()
	if _, set := conf.Exclusive(); !set {
		conf.SetExclusive(false)
	}
	hub := conf.EventHubName()
	var ids []string
	for _, r := range ranges {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		if r.Name != hub {
			return nil, &Error{Code: CodeInvalidRange, Hub: r.Name, PartitionID: r.PartitionID,
				Message: fmt.Sprintf("range %s names event hub %q, but the conf reads %q", r, r.Name, hub)}
		}
		if !slices.Contains(ids, r.PartitionID) {
			ids = append(ids, r.PartitionID)
		}
	}
	rdd := &RDD{conf: conf, ranges: slices.Clone(ranges)}
	if len(ranges) == 0 {
		return rdd, nil
	}
	c, err := defaultPool.clientFor(conf)
	if err != nil {
		return nil, err
	}
	defer c.release()
	hp, err := c.describe(ctx, conf, ids)
	if err != nil {
		return nil, err
	}
	for _, r := range ranges {
		b := hp.Partitions[slices.Index(ids, r.PartitionID)]
		if _, _, err := checkRange(quiet(conf), r, b); err != nil {
			return nil, err
		}
	}
	return rdd, nil
}

// quiet is conf without warnings: CreateRDD's check must not log a loss
// that the read will log again.
func quiet(conf *Conf) *Conf {
	if conf.FailOnDataLoss() {
		return conf
	}
	q := *conf
	q.logger = discardLogger
	return &q
}

// OffsetRanges is the ranges the RDD reads, one per partition task: the
// guide's HasOffsetRanges.
func (d *RDD) OffsetRanges() []OffsetRange { return slices.Clone(d.ranges) }

// BatchTime is when the direct stream's batch that made the RDD was due
// (Spark's foreachRDD time); zero for an RDD from CreateRDD.
func (d *RDD) BatchTime() time.Time { return d.batchTime }

// Count is the number of events in the ranges, computed without reading.
// A read returns fewer when events were lost and FailOnDataLoss is off.
func (d *RDD) Count() int64 {
	var n int64
	for _, r := range d.ranges {
		n += r.Count()
	}
	return n
}

// Skipped is the number of events the last read found lost (retention) and
// skipped, with FailOnDataLoss off.
func (d *RDD) Skipped() int64 { return d.skipped.Load() }

// Partition is one partition task of a read: a range and its events.
type Partition struct {
	rdd     *RDD
	index   int
	r       OffsetRange
	conf    *Conf
	c       *client
	ctx     context.Context
	bounds  *PartitionBounds
	skipped int64
	err     error
}

// Index is the task's position in OffsetRanges.
func (p *Partition) Index() int { return p.index }

// Range is the task's offset range.
func (p *Partition) Range() OffsetRange { return p.r }

// Skipped is how many of the range's events the read found lost and skipped
// (FailOnDataLoss off), once Events has been read.
func (p *Partition) Skipped() int64 { return p.skipped }

// Events reads the range in sequence-number order. A failed read ends with
// one (nil, err) pair; stop at the first error:
//
//	for ev, err := range p.Events() {
//		if err != nil {
//			return err
//		}
//		...
//	}
//
// Breaking out early is fine: the receiver keeps its place for the next read.
func (p *Partition) Events() iter.Seq2[*Event, error] {
	return func(yield func(*Event, error) bool) {
		stopped, first := false, true
		skipped, err := readRange(p.ctx, p.conf, p.c, p.r, p.bounds, func(e *Event) bool {
			if p.rdd != nil && e.SequenceNumber == p.r.UntilSeqNo-1 {
				p.rdd.last.Store(p.r.PartitionID, e.Offset)
			}
			if first && p.rdd != nil && p.rdd.onFirst != nil {
				p.rdd.onFirst(p.r.PartitionID, e.SequenceNumber, e.EnqueuedTime)
			}
			first = false
			if !yield(e, nil) {
				stopped = true
				return false
			}
			return true
		})
		p.skipped = skipped
		if err != nil {
			err = refusedBeside(p.conf, err)
			p.err = err
			if !stopped {
				yield(nil, err)
			}
		}
	}
}

// ForeachPartition runs fn for every range, each in its own goroutine (the
// caller's for a single range), and waits for all. The first error (from fn or from reading) cancels the
// others' context and is returned; a read error is returned even if fn
// ignored it. Ranges of the same partition take turns on its receiver.
func (d *RDD) ForeachPartition(ctx context.Context, fn func(ctx context.Context, p *Partition) error) error {
	d.skipped.Store(0)
	if len(d.ranges) == 0 {
		return nil
	}
	c, err := defaultPool.clientFor(d.conf)
	if err != nil {
		return err
	}
	defer c.release()
	skips := make([]int64, len(d.ranges)) // each task writes its own
	err = parallel.Run(ctx, len(d.ranges), func(ctx context.Context, i int) error {
		r := d.ranges[i]
		p := &Partition{rdd: d, index: i, r: r, conf: d.conf, c: c, ctx: ctx}
		if b, ok := d.bounds[r.PartitionID]; ok {
			p.bounds = &b
		}
		err := fn(ctx, p)
		d.skipped.Add(p.skipped)
		skips[i] = p.skipped
		switch {
		case err != nil && p.err != nil && errors.Is(err, p.err):
			return p.err // fn passed the read's error on; it says where already
		case err != nil:
			return fmt.Errorf("%s partition %s [%d, %d): %w", r.Name, r.PartitionID, r.FromSeqNo, r.UntilSeqNo, err)
		}
		return p.err
	})
	d.mu.Lock()
	d.rangeSkipped = skips
	d.mu.Unlock()
	return err
}

// skippedByRange is the last read's Skipped, per range (nil before a read).
func (d *RDD) skippedByRange() []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.rangeSkipped)
}

// Collect reads every range into memory, in range order. Use it for small
// ranges; ForeachPartition streams.
func (d *RDD) Collect(ctx context.Context) ([]*Event, error) {
	parts := make([][]*Event, len(d.ranges))
	err := d.ForeachPartition(ctx, func(ctx context.Context, p *Partition) error {
		evs := make([]*Event, 0, min(p.Range().Count(), 1<<16))
		for e, err := range p.Events() {
			if err != nil {
				return err
			}
			evs = append(evs, e)
		}
		parts[p.Index()] = evs
		return nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Concat(parts...), nil
}

// refusedBeside explains an ownership error of a read without an owner
// level: it took nothing, and was kept out by an exclusive reader.
func refusedBeside(conf *Conf, err error) error {
	var e *Error
	if conf.exclusiveOr(true) || !errors.As(err, &e) || e.Code != CodeOwnershipLost {
		return err
	}
	return &Error{Code: CodeOwnershipLost, Hub: e.Hub, PartitionID: e.PartitionID, Err: e.Err,
		Message: fmt.Sprintf("another reader holds the partition exclusively (owner level) in consumer group %q, a running stream most likely; "+
			"this read has no owner level and leaves it alone: read with another consumer group (positions are the same in all), or SetExclusive(true) to take the partition", conf.ConsumerGroup())}
}
