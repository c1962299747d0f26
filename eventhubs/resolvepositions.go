package eventhubs

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/ehstream/ehstream/streaming/parallel"
)

// ResolvePositions turns each partition's position into the sequence number
// of the first event at or after it: where a read from the position starts.
// positions is keyed by partition ID; every partition it names must exist.
//
//   - StartOfStream is the partition's first event still held; EndOfStream
//     is its last event + 1 at the time of the call.
//   - A sequence number is itself (inclusive) or the next (not inclusive),
//     unchecked: a read from it reports events retention removed, or a
//     range past the partition's end.
//   - An offset or enqueued time is asked of the service with a receiver
//     that has no owner level, so resolving never takes a partition from
//     another reader; while one holds it exclusively (a running stream of
//     the conf's consumer group), resolving fails with CodeOwnershipLost:
//     use another consumer group, positions are the same in all. A
//     position with nothing after it is the partition's end: answered at
//     once for an enqueued time at or after the last event's, and for an
//     offset at or past the last event's (offsets are compared as numbers
//     when both are decimal, as Event Hubs' are), else within one
//     ReceiverTimeout. One the service refuses (an offset the partition
//     never gave out) is a CodeInvalidConf error naming it. Enqueued times
//     are kept to the millisecond: an event enqueued in the millisecond of
//     an enqueued-time position counts as before it.
//
// Partitions are resolved in parallel: the call takes one receive timeout
// at most, however many partitions have nothing after their position.
func ResolvePositions(ctx context.Context, conf *Conf, positions map[string]EventPosition) (map[string]int64, error) {
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	ids := slices.Sorted(maps.Keys(positions))
	for _, id := range ids {
		if err := positions[id].Validate(); err != nil {
			return nil, &Error{Code: CodeInvalidConf, Hub: conf.EventHubName(), PartitionID: id, Message: messageOf(err)}
		}
	}
	if len(ids) == 0 {
		return map[string]int64{}, nil
	}
	probe, hp, err := probeBounds(ctx, conf, ids)
	if err != nil {
		return nil, err
	}
	defer probe.release()
	asked := make([]resolving, len(ids))
	for i, id := range ids {
		asked[i] = resolving{role: adHocPosition, id: id, p: positions[id], b: hp.Partitions[i]}
	}
	seqs, err := resolveAll(ctx, conf, probe, asked)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(ids))
	for i, id := range ids {
		out[id] = seqs[i]
	}
	return out, nil
}

// OffsetRangesBetween returns, for every partition of the hub, the range of
// events from position from (inclusive) until position until (exclusive),
// as ResolvePositions resolves them: with until EndOfStream, up to each
// partition's end at the time of the call. "Everything enqueued since t"
// is one call, and CreateRDD reads it:
//
//	ranges, err := eventhubs.OffsetRangesBetween(ctx, conf, eventhubs.FromEnqueuedTime(t), eventhubs.EndOfStream())
//	rdd, err := eventhubs.CreateRDD(ctx, conf, ranges)
//
// A range is empty when nothing lies between the positions. A sequence
// number past a partition's last event + 1 is a CodeRangeOutOfBounds
// error, and from after until a CodeInvalidRange error, naming them.
func OffsetRangesBetween(ctx context.Context, conf *Conf, from, until EventPosition) ([]OffsetRange, error) {
	return PartitionRangesBetween(ctx, conf, nil, from, until)
}

// PartitionRangesBetween is OffsetRangesBetween for the partitions
// partitionIDs only, in that order (nil means every partition): the
// positions of the others are not resolved, so neither their time nor
// their errors count. An ID the hub does not have is a CodeInvalidRange
// error naming the hub's partitions.
func PartitionRangesBetween(ctx context.Context, conf *Conf, partitionIDs []string, from, until EventPosition) ([]OffsetRange, error) {
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	hub := conf.EventHubName()
	for _, p := range []struct {
		name string
		p    EventPosition
	}{{"from", from}, {"until", until}} {
		if err := p.p.Validate(); err != nil {
			return nil, &Error{Code: CodeInvalidConf, Hub: hub, Message: p.name + " " + messageOf(err)}
		}
	}
	if before(until, from) {
		return nil, &Error{Code: CodeInvalidRange, Hub: hub, Message: fmt.Sprintf("from position %s comes after until position %s", from, until)}
	}
	probe, hp, err := probeBounds(ctx, conf, partitionIDs)
	if err != nil {
		return nil, err
	}
	defer probe.release()
	asked := make([]resolving, 0, 2*len(hp.Partitions))
	for _, b := range hp.Partitions {
		asked = append(asked,
			resolving{role: fromPosition, id: b.PartitionID, p: from, b: b},
			resolving{role: untilPosition, id: b.PartitionID, p: until, b: b})
	}
	seqs, err := resolveAll(ctx, conf, probe, asked)
	if err != nil {
		return nil, err
	}
	ranges := make([]OffsetRange, len(hp.Partitions))
	for i, b := range hp.Partitions {
		f, err := withinBounds(hub, asked[2*i], seqs[2*i])
		if err != nil {
			return nil, err
		}
		u, err := withinBounds(hub, asked[2*i+1], seqs[2*i+1])
		if err != nil {
			return nil, err
		}
		if f > u {
			return nil, &Error{Code: CodeInvalidRange, Hub: hub, PartitionID: b.PartitionID,
				Message: fmt.Sprintf("from position %s is sequence number %d, after until position %s, sequence number %d", from, f, until, u)}
		}
		ranges[i] = OffsetRange{Name: hub, PartitionID: b.PartitionID, FromSeqNo: f, UntilSeqNo: u}
	}
	return ranges, nil
}

var (
	adHocPosition = role{what: "position",
		held: "positions are resolved without an owner level, so as not to take it: use another consumer group (positions are the same in all), or stop that reader"}
	fromPosition  = role{what: "from position", held: adHocPosition.held}
	untilPosition = role{what: "until position", held: adHocPosition.held}
)

// before reports positions of one kind that are plainly in the wrong
// order. Offsets are opaque, and other kinds are compared once resolved.
func before(a, b EventPosition) bool {
	switch {
	case a.Kind() != b.Kind():
		return false
	case a.Kind() == PositionSequenceNumber:
		as, bs := a.SequenceNumber(), b.SequenceNumber()
		if !a.Inclusive() {
			as++
		}
		if !b.Inclusive() {
			bs++
		}
		return as < bs
	case a.Kind() == PositionEnqueuedTime:
		return a.EnqueuedTime().Before(b.EnqueuedTime())
	}
	return false
}

// withinBounds checks a resolved position against the bounds the call read.
// A sequence number past the end is the caller's mistake; an offset or a
// time that found an event enqueued since the bounds were read stands at
// those bounds, so that the call answers for one moment.
func withinBounds(hub string, r resolving, seq int64) (int64, error) {
	if seq <= r.b.End {
		return seq, nil
	}
	if r.p.Kind() != PositionSequenceNumber {
		return r.b.End, nil
	}
	held := fmt.Sprintf("it holds sequence numbers %d to %d", r.b.First, r.b.End-1)
	if r.b.Empty() {
		held = fmt.Sprintf("it holds no events, the next will be sequence number %d", r.b.End)
	}
	return 0, &Error{Code: CodeRangeOutOfBounds, Hub: hub, PartitionID: r.id,
		Message: fmt.Sprintf("%s %s is past the partition's last event: %s", r.role.what, r.p, held)}
}

// resolving is one position to resolve.
type resolving struct {
	role role
	id   string
	p    EventPosition
	b    PartitionBounds
}

// resolveAll resolves positions in parallel, so that positions with nothing
// after them cost one receive timeout in all, and returns the first error
// in asked's order.
func resolveAll(ctx context.Context, conf *Conf, probe *client, asked []resolving) ([]int64, error) {
	seqs := make([]int64, len(asked))
	err := parallel.Each(len(asked), func(i int) error {
		r := asked[i]
		var err error
		seqs[i], err = resolveAs(ctx, conf, probe, r.role, r.id, r.p, r.b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return seqs, nil
}
