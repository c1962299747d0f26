package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/ehstream/ehstream/streaming"
)

// DirectStream reads a hub as a sequence of batches, one RDD per batch with
// one task per partition: the Spark connector's EventHubsDirectDStream. Each
// batch reads, per partition, from where the previous batch ended up to
// the partition's rate (MaxRatesPerPartition, MaxRatePerPartition) or its
// last event.
type DirectStream struct {
	conf    *Conf
	outputs []func(context.Context, *RDD) error

	// Owned by the goroutine running the stream (Start, Plan, Run, Stop).
	c      *client
	next   map[string]int64 // partition → the next batch's from
	bounds map[string]PartitionBounds
}

// CreateDirectStream adds a stream of conf's hub to ssc. Register the
// output with ForeachRDD, then run ssc.
func CreateDirectStream(ssc *streaming.Context, conf *Conf) (*DirectStream, error) {
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	s := &DirectStream{conf: conf.Clone()}
	if err := ssc.AddInput(s); err != nil {
		return nil, err
	}
	return s, nil
}

// ForeachRDD registers fn as an output: it gets each batch's RDD, whose
// OffsetRanges say what the batch reads. A nil error means fn is done with
// the batch; an error stops the stream, and the batch, not marked done in a
// checkpoint, runs again after a restart. With several outputs each reads
// the batch anew, in the order registered.
func (s *DirectStream) ForeachRDD(fn func(ctx context.Context, rdd *RDD) error) {
	s.outputs = append(s.outputs, fn)
}

// Identity is what a checkpoint of the stream records: the namespace's
// host (without a port, so an emulator may move), hub and consumer group.
func (s *DirectStream) Identity() streaming.Identity {
	id := streaming.Identity{"kind": "eventhubs", "eventHub": s.conf.EventHubName(), "consumerGroup": s.conf.ConsumerGroup()}
	if cs, err := s.conf.ConnectionString(); err == nil {
		id["namespace"] = cs.Hostname()
	}
	return id
}

// Start resolves each partition's starting position to a sequence number,
// unless resume (from a checkpoint) has it.
func (s *DirectStream) Start(ctx context.Context, resume map[string]int64) error {
	if len(s.outputs) == 0 {
		return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), Message: "the stream has no output: register one with ForeachRDD before running the context"}
	}
	c, err := defaultPool.clientFor(s.conf)
	if err != nil {
		return err
	}
	s.c = c
	s.next = map[string]int64{}
	hp, err := c.describe(ctx, s.conf, nil)
	if err != nil {
		return err
	}
	for id := range resume {
		if !slices.Contains(hp.PartitionIDs, id) {
			return &Error{Code: CodeInvalidConf, Hub: s.conf.EventHubName(), PartitionID: id,
				Message: fmt.Sprintf("the checkpoint has partition %q, which the hub does not (it has %v)", id, hp.PartitionIDs)}
		}
	}
	for i, id := range hp.PartitionIDs {
		if seq, ok := resume[id]; ok {
			s.next[id] = seq
			continue
		}
		if s.next[id], err = s.resolve(ctx, id, hp.Partitions[i]); err != nil {
			return err
		}
	}
	return nil
}

// Stop releases the stream's connection to the pool; receivers stay open
// there until idle.
func (s *DirectStream) Stop() {
	if s.c != nil {
		s.c.release()
		s.c = nil
	}
}

// resolve turns partition id's starting position into the sequence number
// of the first event to read. Offsets and enqueued times are asked of the
// service with a receiver that has no owner level, so that resolving does
// not take the partition from another reader.
func (s *DirectStream) resolve(ctx context.Context, id string, b PartitionBounds) (int64, error) {
	p := s.conf.PositionFor(id)
	switch p.Kind() {
	case PositionStartOfStream:
		return b.First, nil
	case PositionEndOfStream:
		return b.End, nil
	case PositionSequenceNumber:
		if p.Inclusive() {
			return p.SequenceNumber(), nil
		}
		return p.SequenceNumber() + 1, nil
	}
	if b.Empty() {
		return b.End, nil
	}
	start := azeventhubs.StartPosition{Inclusive: p.Inclusive()}
	switch p.Kind() {
	case PositionOffset:
		off := p.Offset()
		if off == b.LastOffset { // the last event: no need to wait for one after it
			if p.Inclusive() {
				return b.End - 1, nil
			}
			return b.End, nil
		}
		start.Offset = &off
	case PositionEnqueuedTime:
		t := p.EnqueuedTime()
		if !t.Before(b.LastEnqueued) {
			return b.End, nil
		}
		start.EnqueuedTime = &t
	}
	var seq int64
	err := retry(ctx, s.conf, s.conf.EventHubName(), id, func(ctx context.Context) error {
		pc, err := s.c.cc.NewPartitionClient(id, &azeventhubs.PartitionClientOptions{StartPosition: start, Prefetch: -1})
		if err != nil {
			return err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = pc.Close(cctx)
			cancel()
		}()
		rctx, cancel := context.WithTimeout(ctx, s.conf.ReceiverTimeout())
		defer cancel()
		evs, err := pc.ReceiveEvents(rctx, 1, nil)
		if len(evs) > 0 {
			seq = evs[0].SequenceNumber
			return nil
		}
		if err == nil || (errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil) {
			seq = b.End // nothing after the position: start after the last event
			return nil
		}
		return err
	})
	if HasCode(err, CodeOwnershipLost) {
		return 0, &Error{Code: CodeOwnershipLost, Hub: s.conf.EventHubName(), PartitionID: id, Err: err,
			Message: fmt.Sprintf("resolving starting position %s needs to read the partition, and another reader holds it exclusively (owner level); the stream does not take it to resolve a position: stop that reader, or start from a sequence number", p)}
	}
	if err != nil {
		return 0, fmt.Errorf("resolving starting position %s: %w", p, err)
	}
	return seq, nil
}

// Plan reads every partition's bounds and plans the batch: from the
// previous until up to the rate or the last event. A partition whose
// events before from were removed, or whose sequence numbers restarted
// (a hub deleted and created again), is data loss: an error with
// FailOnDataLoss, else a warning, and the read skips what is gone.
func (s *DirectStream) Plan(ctx context.Context, _ time.Time) (streaming.Plan, error) {
	hp, err := s.c.describe(ctx, s.conf, nil)
	if err != nil {
		return streaming.Plan{}, err
	}
	hub := s.conf.EventHubName()
	s.bounds = map[string]PartitionBounds{}
	var plan streaming.Plan
	for i, id := range hp.PartitionIDs {
		b := hp.Partitions[i]
		s.bounds[id] = b
		from, ok := s.next[id]
		if !ok { // a partition added to the hub while the stream runs
			if from, err = s.resolve(ctx, id, b); err != nil {
				return streaming.Plan{}, err
			}
		}
		if from > b.End {
			msg := fmt.Sprintf("wanted sequence number %d, but the partition holds [%d, %d): its sequence numbers restarted (was the hub deleted and created again?)", from, b.First, b.End)
			if s.conf.FailOnDataLoss() {
				return streaming.Plan{}, &Error{Code: CodeDataLoss, Hub: hub, PartitionID: id, Message: msg + "; set FailOnDataLoss false to continue from the first available event"}
			}
			s.conf.Logger().Warn("eventhubs: "+msg+"; continuing from the first available event", "hub", hub, "partition", id)
			from = b.First
		}
		if from < b.First && s.conf.FailOnDataLoss() {
			return streaming.Plan{}, &Error{Code: CodeDataLoss, Hub: hub, PartitionID: id,
				Message: fmt.Sprintf("wanted sequence number %d, the first available is %d: %d events are gone (retention); set FailOnDataLoss false to skip them", from, b.First, b.First-from)}
		}
		// Reading starts at the first available event; the range still
		// starts at from, so that ranges stay contiguous and the read
		// counts what it skipped.
		until := min(max(from, b.First)+s.conf.RateFor(id), b.End)
		s.next[id] = until
		plan.Ranges = append(plan.Ranges, streaming.Range{Source: hub, Partition: id, From: from, Until: until})
		plan.Lag = append(plan.Lag, b.End-until)
	}
	return plan, nil
}

// Run hands the batch's RDD to each output.
func (s *DirectStream) Run(ctx context.Context, b *streaming.Batch) (streaming.Result, error) {
	rdd := &RDD{conf: s.conf, ranges: make([]OffsetRange, 0, len(b.Ranges)), batchTime: b.Time}
	for _, r := range b.Ranges {
		if r.Source != s.conf.EventHubName() {
			return streaming.Result{}, &Error{Code: CodeInvalidRange, Hub: r.Source, PartitionID: r.Partition,
				Message: fmt.Sprintf("the batch's range %s is of another hub than %q", r, s.conf.EventHubName())}
		}
		rdd.ranges = append(rdd.ranges, OffsetRange{Name: r.Source, PartitionID: r.Partition, FromSeqNo: r.From, UntilSeqNo: r.Until})
	}
	if !b.Replay {
		rdd.bounds = s.bounds
	} else {
		// A replayed batch also sets where the next one starts.
		for _, r := range b.Ranges {
			s.next[r.Partition] = r.Until
		}
	}
	var skipped int64
	for _, fn := range s.outputs {
		if err := fn(ctx, rdd); err != nil {
			return streaming.Result{}, err
		}
		skipped = max(skipped, rdd.Skipped())
	}
	return streaming.Result{Events: rdd.Count() - skipped, Skipped: skipped}, nil
}

// Conf is the stream's configuration (a copy).
func (s *DirectStream) Conf() *Conf { return s.conf.Clone() }

var _ streaming.Input = (*DirectStream)(nil)
