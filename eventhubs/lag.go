package eventhubs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// PartitionLag is how far a position in a partition is behind the
// partition's end: in events, and in time, the age of the oldest event not
// yet read.
type PartitionLag struct {
	PartitionID string
	// Next is the position: the first sequence number not yet read.
	Next int64
	// First and End are the partition's bounds when the lag was read: it
	// held sequence numbers [First, End).
	First, End int64
	// Events is End - Next, the events not yet read, those retention
	// removed included. It is negative when the partition's sequence
	// numbers restarted below the position (the hub was created again).
	Events int64
	// OldestUnread is when the oldest event not yet read was enqueued: the
	// one at Next, or the first still held when retention removed it. It
	// is zero when no event is unread, or when Err says why it is unknown.
	OldestUnread time.Time
	// Err, when set, says why OldestUnread is unknown although events are
	// unread: another reader holds the partition exclusively in the conf's
	// consumer group (CodeOwnershipLost), or no event came within
	// ReceiverTimeout (CodeTimeout).
	Err error
}

// TimeLag is how long the oldest unread event had waited at now; 0 when no
// event is unread or OldestUnread is unknown.
func (l PartitionLag) TimeLag(now time.Time) time.Duration {
	if l.OldestUnread.IsZero() {
		return 0
	}
	return max(now.Sub(l.OldestUnread), 0)
}

// Lag reads how far positions are behind the hub, for every partition of
// the hub in its order. next holds each partition's first sequence number
// not yet read, as a job's offset store keeps it; a partition it lacks is
// counted from its first event, as a stream resuming from next reads it.
//
// The enqueued time of each partition's oldest unread event is read with a
// receiver of the conf's consumer group that has no owner level, one event,
// so that Lag never takes a partition from the job it watches. A running
// job holds the partitions of its own consumer group exclusively and keeps
// such readers out: read the lag of a running job with another consumer
// group (sequence numbers and enqueued times are the same in all), or its
// OldestUnread is unknown, with Err saying so; Events is right either way.
// Partitions are read in parallel.
func Lag(ctx context.Context, conf *Conf, next map[string]int64) ([]PartitionLag, error) {
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	probe, hp, err := probeBounds(ctx, conf, nil)
	if err != nil {
		return nil, err
	}
	defer probe.release()
	for _, id := range slices.Sorted(maps.Keys(next)) {
		if !slices.Contains(hp.PartitionIDs, id) {
			return nil, &Error{Code: CodeInvalidRange, Hub: hp.Name, PartitionID: id,
				Message: fmt.Sprintf("a position of partition %s, which the hub does not have (it has %v)", id, hp.PartitionIDs)}
		}
	}
	lags := make([]PartitionLag, len(hp.Partitions))
	err = parallel.Each(len(lags), func(i int) error {
		b := hp.Partitions[i]
		n, ok := next[b.PartitionID]
		if !ok {
			n = b.First
		}
		lags[i] = PartitionLag{PartitionID: b.PartitionID, Next: n, First: b.First, End: b.End, Events: b.End - n}
		if n >= b.End {
			return nil // caught up: nothing to wait for
		}
		return oldestUnread(ctx, conf, probe, &lags[i], max(n, b.First))
	})
	if err != nil {
		return nil, err
	}
	return lags, nil
}

// oldestUnread sets l's OldestUnread to the enqueued time of event seq,
// which exists. A reader that holds the partition, or an event that does
// not come, leaves it unknown with l.Err saying why; other failures are
// the call's, returned.
func oldestUnread(ctx context.Context, conf *Conf, probe *client, l *PartitionLag, seq int64) error {
	hub, id := conf.EventHubName(), l.PartitionID
	ev, err := firstEvent(ctx, conf, probe, id, azeventhubs.StartPosition{SequenceNumber: &seq, Inclusive: true}, conf.ReceiverTimeout())
	switch {
	case HasCode(err, CodeOwnershipLost):
		l.Err = &Error{Code: CodeOwnershipLost, Hub: hub, PartitionID: id, Err: cause(err),
			Message: fmt.Sprintf("another reader holds the partition exclusively in consumer group %q (the job itself, if it runs), so its oldest unread event cannot be read without taking it; "+
				"read the lag with another consumer group", conf.ConsumerGroup())}
	case err != nil:
		return err
	case ev == nil:
		l.Err = &Error{Code: CodeTimeout, Hub: hub, PartitionID: id,
			Message: fmt.Sprintf("event %d did not come within ReceiverTimeout (%s)", seq, conf.ReceiverTimeout())}
	case ev.EnqueuedTime == nil:
		return &Error{Code: CodeInvalidRange, Hub: hub, PartitionID: id, Message: fmt.Sprintf("event %d has no enqueued time", ev.SequenceNumber)}
	default:
		l.OldestUnread = ev.EnqueuedTime.UTC()
	}
	return nil
}
